package main

import (
	"math/bits"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of two,
// so a quantile is off by at most about 3 %.
const subBits = 5

// hist is a log-linear latency histogram in microseconds. It is not safe for
// concurrent use.
type hist struct {
	counts []uint64
	n      uint64
	max    int64
}

func newHist() *hist { return &hist{counts: make([]uint64, 64<<subBits)} }

func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	if u < 1<<subBits {
		return int(u)
	}
	e := bits.Len64(u) - subBits - 1
	return (e+1)<<subBits + int(u>>e) - 1<<subBits
}

// bucketLow returns the smallest value that falls in bucket b.
func bucketLow(b int) int64 {
	if b < 2<<subBits {
		return int64(b)
	}
	e := b>>subBits - 1
	m := b&(1<<subBits-1) + 1<<subBits
	return int64(m) << e
}

func (h *hist) add(v int64) {
	h.counts[bucketOf(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

// sparse returns the non-empty buckets as [bucket, count] pairs.
func (h *hist) sparse() [][2]uint64 {
	var out [][2]uint64
	for b, c := range h.counts {
		if c > 0 {
			out = append(out, [2]uint64{uint64(b), c})
		}
	}
	return out
}

// merge adds a sparse histogram taken from another process.
func (h *hist) merge(s [][2]uint64, max int64) {
	for _, p := range s {
		if int(p[0]) < len(h.counts) {
			h.counts[p[0]] += p[1]
			h.n += p[1]
		}
	}
	if max > h.max {
		h.max = max
	}
}

// quantile returns the value at quantile q (0..1) in microseconds: the middle
// of the bucket that holds it, capped at the maximum seen.
func (h *hist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketLow(b), bucketLow(b+1)
			return min((lo+hi)/2, h.max)
		}
	}
	return h.max
}
