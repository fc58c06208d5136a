package nacostest

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"

	nacosgrpc "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/remote/rpc/rpc_request"
	"github.com/nacos-group/nacos-sdk-go/v2/common/remote/rpc/rpc_response"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/anypb"
)

// Codes of Nacos's responses, as the SDK reads them.
const (
	codeOK          = constant.RESPONSE_CODE_SUCCESS // 200, resultCode of a success
	codeFail        = 500                            // resultCode of a failure
	codeNotFound    = 300                            // errorCode: config data not exist
	codeNoRight     = 403                            // errorCode: no right (auth)
	codeUnsupported = 501                            // errorCode for an unknown request type
)

var requestSeq atomic.Int64

// connID names a client connection by its remote address, as Nacos does:
// the unary calls and the bi-stream of one SDK client share one HTTP/2
// connection, hence one address.
func connID(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown"
}

func ok(requestID string) *rpc_response.Response {
	return &rpc_response.Response{ResultCode: codeOK, Success: true, RequestId: requestID}
}

func fail(requestID string, errorCode int, msg string) *rpc_response.Response {
	return &rpc_response.Response{ResultCode: codeFail, ErrorCode: errorCode, Message: msg, RequestId: requestID}
}

// responsePayload wraps r as Nacos does: its type in the metadata, its JSON
// in the body. (Not r.GetBody: that method is the embedded Response's and
// marshals only the common fields.)
func responsePayload(r rpc_response.IResponse) *nacosgrpc.Payload {
	body, err := json.Marshal(r)
	if err != nil {
		body = []byte(r.GetBody())
	}
	return &nacosgrpc.Payload{
		Metadata: &nacosgrpc.Metadata{Type: r.GetResponseType(), ClientIp: "127.0.0.1"},
		Body:     &anypb.Any{Value: body},
	}
}

func requestPayload(r rpc_request.IRequest) *nacosgrpc.Payload {
	return &nacosgrpc.Payload{
		Metadata: &nacosgrpc.Metadata{Type: r.GetRequestType(), ClientIp: "127.0.0.1", Headers: r.GetHeaders()},
		Body:     &anypb.Any{Value: []byte(r.GetBody(r))},
	}
}

func changeNotify(k key) *nacosgrpc.Payload {
	r := rpc_request.NewConfigChangeNotifyRequest(k.group, k.dataID, k.tenant)
	r.RequestId = strconv.FormatInt(requestSeq.Add(1), 10)
	return requestPayload(r)
}

// requestService is Nacos's unary Request service.
type requestService struct {
	nacosgrpc.UnimplementedRequestServer
	s *Server
}

func (rs requestService) Request(ctx context.Context, p *nacosgrpc.Payload) (*nacosgrpc.Payload, error) {
	return responsePayload(rs.s.handle(connID(ctx), p)), nil
}

// handle answers one request of the unary service.
func (s *Server) handle(conn string, p *nacosgrpc.Payload) rpc_response.IResponse {
	typ := p.GetMetadata().GetType()
	body := p.GetBody().GetValue()
	headers := p.GetMetadata().GetHeaders()
	var base rpc_request.Request
	_ = json.Unmarshal(body, &base)
	rid := base.RequestId
	bad := func(err error) rpc_response.IResponse {
		return &rpc_response.ErrorResponse{Response: fail(rid, codeFail, "bad request body: "+err.Error())}
	}

	switch typ {
	case "ServerCheckRequest":
		return &rpc_response.ServerCheckResponse{Response: ok(rid), ConnectionId: conn}
	case "HealthCheckRequest":
		return &rpc_response.HealthCheckResponse{Response: ok(rid)}
	}
	if !s.loggedIn(headers[constant.KEY_ACCESS_TOKEN]) {
		return &rpc_response.ErrorResponse{Response: fail(rid, codeNoRight, "access denied: no valid accessToken")}
	}

	switch typ {
	case constant.CONFIG_QUERY_REQUEST_NAME:
		r := rpc_request.NewConfigQueryRequest("", "", "")
		if err := json.Unmarshal(body, r); err != nil {
			return bad(err)
		}
		k, err := mkKey(r.Tenant, r.DataId, r.Group)
		if err != nil {
			return &rpc_response.ConfigQueryResponse{Response: fail(rid, codeFail, err.Error())}
		}
		s.mu.Lock()
		hook := s.onQuery
		s.mu.Unlock()
		if hook != nil {
			hook()
		}
		s.mu.Lock()
		e, found := s.store[k]
		s.mu.Unlock()
		if !found {
			return &rpc_response.ConfigQueryResponse{Response: fail(rid, codeNotFound, "config data not exist")}
		}
		return &rpc_response.ConfigQueryResponse{Response: ok(rid), Content: e.content, Md5: e.md5,
			LastModified: e.modified, ContentType: "text"}

	case constant.CONFIG_PUBLISH_REQUEST_NAME:
		r := rpc_request.NewConfigPublishRequest("", "", "", "", "")
		if err := json.Unmarshal(body, r); err != nil {
			return bad(err)
		}
		k, err := mkKey(r.Tenant, r.DataId, r.Group)
		if err == nil && r.Content == "" {
			err = errParam("content can not be empty")
		}
		if err != nil {
			return &rpc_response.ConfigPublishResponse{Response: fail(rid, codeFail, err.Error())}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.CasMd5 != "" && s.md5Locked(k) != r.CasMd5 {
			return &rpc_response.ConfigPublishResponse{Response: fail(rid, codeFail,
				"Cas publish fail, server md5 may have changed.")}
		}
		s.putLocked(k, r.Content) // checked and stored under one lock
		return &rpc_response.ConfigPublishResponse{Response: ok(rid)}

	case constant.CONFIG_REMOVE_REQUEST_NAME:
		r := rpc_request.NewConfigRemoveRequest("", "", "")
		if err := json.Unmarshal(body, r); err != nil {
			return bad(err)
		}
		k, err := mkKey(r.Tenant, r.DataId, r.Group)
		if err != nil {
			return &rpc_response.ConfigRemoveResponse{Response: fail(rid, codeFail, err.Error())}
		}
		s.remove(k)
		return &rpc_response.ConfigRemoveResponse{Response: ok(rid)}

	case constant.CONFIG_BATCH_LISTEN_REQUEST_NAME:
		r := rpc_request.NewConfigBatchListenRequest(0)
		if err := json.Unmarshal(body, r); err != nil {
			return bad(err)
		}
		return &rpc_response.ConfigChangeBatchListenResponse{Response: ok(rid),
			ChangedConfigs: s.batchListen(conn, r)}
	}
	return &rpc_response.ErrorResponse{Response: fail(rid, codeUnsupported, "unsupported request type "+typ)}
}

type errParam string

func (e errParam) Error() string { return string(e) }

// batchListen registers (or, for listen=false, unregisters) conn as a
// listener of each config, with the md5 it reported, and returns those whose md5 differs from the
// client's.
func (s *Server) batchListen(conn string, r *rpc_request.ConfigBatchListenRequest) []model.ConfigContext {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listens++
	changed := []model.ConfigContext{}
	for _, c := range r.ConfigListenContexts {
		k, err := mkKey(c.Tenant, c.DataId, c.Group)
		if err != nil {
			continue
		}
		if !r.Listen {
			delete(s.listeners[k], conn)
			if len(s.listeners[k]) == 0 {
				delete(s.listeners, k)
			}
			continue
		}
		if s.listeners[k] == nil {
			s.listeners[k] = make(map[string]string)
		}
		s.listeners[k][conn] = c.Md5
		if s.md5Locked(k) != c.Md5 {
			changed = append(changed, model.ConfigContext{Group: c.Group, DataId: c.DataId, Tenant: c.Tenant})
		}
	}
	return changed
}

// conn is a client's bi-directional stream.
type conn struct {
	id   string
	out  chan *nacosgrpc.Payload // pushes waiting to be sent
	done chan struct{}           // closed when the stream ends
}

// push queues p for the client; it reports false if the stream has ended
// or its queue is full.
func (c *conn) push(p *nacosgrpc.Payload) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.out <- p:
		return true
	default:
		return false
	}
}

// biStreamService is Nacos's BiRequestStream service: the client's
// ConnectionSetupRequest and acknowledgements come in, pushes go out.
type biStreamService struct {
	nacosgrpc.UnimplementedBiRequestStreamServer
	s *Server
}

func (bs biStreamService) RequestBiStream(stream nacosgrpc.BiRequestStream_RequestBiStreamServer) error {
	s := bs.s
	c := &conn{id: connID(stream.Context()), out: make(chan *nacosgrpc.Payload, 64), done: make(chan struct{})}
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return nil
	}
	s.conns[c.id] = c
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		close(c.done)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.conns[c.id] == c {
			delete(s.conns, c.id)
			for k, ids := range s.listeners {
				delete(ids, c.id)
				if len(ids) == 0 {
					delete(s.listeners, k)
				}
			}
		}
	}()

	recvDone := make(chan struct{})
	go func() { // the only reader of the stream
		defer close(recvDone)
		for {
			p, err := stream.Recv()
			if err != nil {
				return
			}
			// ConnectionSetupRequest (clientVersion, tenant, labels) needs
			// no answer; the acknowledgements of pushes
			// (NotifySubscriberResponse) need no action.
			_ = p
		}
	}()
	defer func() { <-recvDone }() // Recv fails once the stream's context is done

	for {
		select {
		case p := <-c.out:
			if err := stream.Send(p); err != nil {
				return nil
			}
		case <-recvDone:
			return nil
		case <-stream.Context().Done():
			return nil
		}
	}
}
