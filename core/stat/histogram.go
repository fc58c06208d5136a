package stat

import "time"

// rtBounds are the upper bounds, inclusive, of the response-time
// histogram's buckets: 1-2-5 steps from 0.5 ms to 10 s.
var rtBounds = [...]time.Duration{
	500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second,
	10 * time.Second,
}

// RTBuckets is the number of buckets of the response-time histogram: one
// per bound, and one for response times over the last.
const RTBuckets = len(rtBounds) + 1

// RTBound returns the upper bound, inclusive, of bucket i of the
// response-time histogram, for i in [0, RTBuckets-1): 0.5, 1, 2, 5, 10, 20,
// 50, 100, 200 and 500 ms, then 1, 2, 5 and 10 s. The last bucket,
// RTBuckets-1, has no bound: RTBound returns a negative duration for it and
// for any other i.
func RTBound(i int) time.Duration {
	if i < 0 || i >= len(rtBounds) {
		return -1
	}
	return rtBounds[i]
}

// rtBucket returns the histogram bucket of a response time: the first
// whose bound is at least rt.
func rtBucket(rt time.Duration) int {
	for i, b := range rtBounds {
		if rt <= b {
			return i
		}
	}
	return len(rtBounds)
}
