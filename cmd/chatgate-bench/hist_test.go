package main

import "testing"

func TestBucketRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		v    int64
	}{
		{"zero", 0}, {"small", 31}, {"first log", 32}, {"mid", 1000}, {"ms", 123456}, {"minute", 60e6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bucketOf(tc.v)
			lo, hi := bucketLow(b), bucketLow(b+1)
			if tc.v < lo || tc.v >= hi {
				t.Fatalf("value %d in bucket %d = [%d,%d)", tc.v, b, lo, hi)
			}
			if tc.v > 64 && float64(hi-lo)/float64(tc.v) > 0.07 {
				t.Fatalf("bucket %d too wide for %d: [%d,%d)", b, tc.v, lo, hi)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	h := newHist()
	for v := int64(1); v <= 10000; v++ {
		h.add(v)
	}
	tests := []struct {
		q    float64
		want int64
	}{{0.5, 5000}, {0.99, 9900}, {1, 10000}}
	for _, tc := range tests {
		got := h.quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d > 0.04 || d < -0.04 {
			t.Errorf("q%.2f = %d, want about %d", tc.q, got, tc.want)
		}
	}
	g := newHist()
	g.merge(h.sparse(), h.max)
	if g.n != h.n || g.quantile(0.5) != h.quantile(0.5) {
		t.Fatalf("merge lost data: n %d vs %d", g.n, h.n)
	}
}
