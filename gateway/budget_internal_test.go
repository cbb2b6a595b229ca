package gateway

import (
	"testing"
	"time"
)

func TestRateAllow(t *testing.T) {
	const s = int64(time.Second)
	type step struct {
		at   int64 // nanoseconds
		n    int
		want bool
	}
	tests := []struct {
		name         string
		rate, burst  int
		steps        []step
		wantTATAfter int64 // tat after the last step
	}{
		{"burst at once, then refused", 10, 3, []step{{0, 1, true}, {0, 1, true}, {0, 1, true}, {0, 1, false}}, 3 * s / 10},
		{"a refused unit costs nothing", 10, 1, []step{{s, 1, true}, {s, 1, false}, {s, 1, false}, {s + s/10, 1, true}}, s + 2*s/10},
		{"sustained at the rate", 10, 1, []step{{0, 1, true}, {s / 10, 1, true}, {2 * s / 10, 1, true}, {3 * s / 10, 1, true}}, 4 * s / 10},
		{"faster than the rate drains the burst", 10, 2, []step{{0, 1, true}, {s / 20, 1, true}, {2 * s / 20, 1, true}, {3 * s / 20, 1, false}}, 3 * s / 10},
		{"idle time refills, up to the burst only", 10, 2, []step{{0, 2, true}, {10 * s, 2, true}, {10 * s, 1, false}}, 10*s + 2*s/10},
		{"bytes: a unit larger than the burst never passes", 1000, 500, []step{{0, 501, false}, {0, 500, true}}, s / 2},
		{"disabled", 0, 0, []step{{0, 1 << 30, true}, {0, 1 << 30, true}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRate(tt.rate, tt.burst)
			var tat int64
			for i, st := range tt.steps {
				if got := r.allow(&tat, st.at, st.n); got != st.want {
					t.Fatalf("step %d (%d units at %v): allowed %v, want %v", i, st.n, time.Duration(st.at), got, st.want)
				}
			}
			if tat != tt.wantTATAfter {
				t.Fatalf("tat = %v, want %v", time.Duration(tat), time.Duration(tt.wantTATAfter))
			}
		})
	}
}

func TestOptionDefaults(t *testing.T) {
	tests := []struct {
		name  string
		in    *Options
		check func(o Options) bool
	}{
		{"zero value", nil, func(o Options) bool {
			return o.FrameRate == DefaultFrameRate && o.FrameBurst == DefaultFrameBurst &&
				o.ByteRate == DefaultByteRate && o.ByteBurst == DefaultByteBurst && o.MaxConnsPerIP == DefaultMaxConnsPerIP
		}},
		{"byte burst follows a larger read limit", &Options{ReadLimit: 1 << 20}, func(o Options) bool { return o.ByteBurst == 1<<20 }},
		{"negative disables", &Options{FrameRate: -1, ByteRate: -1, MaxConnsPerIP: -1}, func(o Options) bool {
			return newRate(o.FrameRate, o.FrameBurst) == rate{} && newRate(o.ByteRate, o.ByteBurst) == rate{} && o.MaxConnsPerIP < 0
		}},
		{"explicit values kept", &Options{FrameRate: 3, FrameBurst: 7, ByteRate: 100, ByteBurst: 200, MaxConnsPerIP: 9}, func(o Options) bool {
			return o.FrameRate == 3 && o.FrameBurst == 7 && o.ByteRate == 100 && o.ByteBurst == 200 && o.MaxConnsPerIP == 9
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if o := tt.in.withDefaults(); !tt.check(o) {
				t.Fatalf("withDefaults(%+v) = %+v", tt.in, o)
			}
		})
	}
}
