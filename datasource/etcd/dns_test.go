package etcd

import (
	"context"
	"errors"
	"net"
)

// noSuchHosts answers every DNS query on a loopback UDP port with
// NXDOMAIN, as a resolver answers for a name under .invalid (RFC 6761),
// so that a test of an unknown host sends no query off the machine.
type noSuchHosts struct {
	conn net.PacketConn
	done chan struct{} // closed when serve has returned
}

// startNoSuchHosts serves on a loopback port and makes it the resolver of
// the process: net.DefaultResolver, which the etcd client's dialer and the
// source's own dial use. Call it before any test runs.
func startNoSuchHosts() (*noSuchHosts, error) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &noSuchHosts{conn: conn, done: make(chan struct{})}
	go d.serve()
	addr := conn.LocalAddr().String()
	net.DefaultResolver = &net.Resolver{PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "udp", addr)
		}}
	return d, nil
}

// serve answers each query with its own id and question, flagged as a
// response (QR), recursion available (RA), RCODE 3: no such name.
func (d *noSuchHosts) serve() {
	defer close(d.done)
	buf := make([]byte, 512)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		end := questionEnd(buf[:n])
		if err != nil || end < 0 {
			continue
		}
		reply := append([]byte(nil), buf[:end]...)
		reply[2] = 0x80 | reply[2]&0x01 // QR, and the query's RD
		reply[3] = 0x80 | 3             // RA, NXDOMAIN
		clear(reply[6:12])              // no answer, authority or additional records
		_, _ = d.conn.WriteTo(reply, from)
	}
}

// questionEnd returns where the one question of query msg ends (its name's
// labels, then type and class), or -1 for anything else.
func questionEnd(msg []byte) int {
	if len(msg) < 12 || msg[4] != 0 || msg[5] != 1 {
		return -1
	}
	i := 12
	for i < len(msg) && msg[i] != 0 {
		i += 1 + int(msg[i])
	}
	if i+5 > len(msg) {
		return -1
	}
	return i + 5
}

// stop closes the port and waits for serve to return.
func (d *noSuchHosts) stop() {
	d.conn.Close()
	<-d.done
}
