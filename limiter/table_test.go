package limiter

import (
	"math/rand/v2"
	"testing"
)

// TestShardTable drives one shard with random insertions, updates,
// deletions and sweeps, on hashes crowded into few home slots (long
// clusters that wrap around the table's end), and checks after each step
// that it holds exactly what a plain map says it should.
func TestShardTable(t *testing.T) {
	for _, perCap := range []int{1 << 30, 40} {
		rng := rand.New(rand.NewPCG(1, uint64(perCap)))
		var sh shard
		want := map[uint64]int64{}
		now := int64(1000)
		hash := func() uint64 {
			// Few distinct low bits (home slots), many distinct keys.
			return nonzero(rng.Uint64()&^0xff | uint64(rng.IntN(6))<<1 | 0xf0)
		}
		for step := range 20000 {
			switch op := rng.IntN(10); {
			case op < 5: // insert or update, live or idle
				h := hash()
				if rng.IntN(4) == 0 && len(want) > 0 {
					for k := range want {
						h = k
						break
					}
				}
				tat := now + int64(rng.IntN(200)) - 50
				_, found := sh.find(h)
				swept := !found && sh.n >= sh.limit
				sh.put(h, tat, now, perCap)
				if swept {
					// put swept first: mirror it.
					mirrorSweep(&sh, want, now, h)
				}
				want[h] = tat
			case op < 7 && len(want) > 0: // delete
				for k := range want {
					i, ok := sh.find(k)
					if !ok {
						t.Fatalf("step %d: %x missing before delete", step, k)
					}
					sh.del(i)
					delete(want, k)
					break
				}
			case op < 8: // sweep
				sh.sweep(now, perCap)
				mirrorSweep(&sh, want, now, 0)
			default:
				now += int64(rng.IntN(20))
			}
			if sh.n != len(want) {
				t.Fatalf("step %d: n %d, want %d", step, sh.n, len(want))
			}
			if len(want) > perCap {
				t.Fatalf("step %d: %d entries above perCap %d", step, len(want), perCap)
			}
			if len(sh.tab) > 0 && sh.n > len(sh.tab)/4*3 {
				t.Fatalf("step %d: %d entries in a table of %d", step, sh.n, len(sh.tab))
			}
			for k, v := range want {
				i, ok := sh.find(k)
				if !ok || sh.tab[i].tat != v {
					t.Fatalf("step %d: %x: found %v, want tat %d", step, k, ok, v)
				}
			}
			occupied := 0
			for _, e := range sh.tab {
				if e.h != 0 {
					occupied++
					if _, ok := want[e.h]; !ok {
						t.Fatalf("step %d: stray entry %x", step, e.h)
					}
				}
			}
			if occupied != sh.n {
				t.Fatalf("step %d: %d occupied slots, n %d", step, occupied, sh.n)
			}
		}
	}
}

// mirrorSweep applies a sweep to the reference map: idle entries go, and
// the live ones the sweep dropped to respect perCap (which it chooses
// arbitrarily) are read back from the table. except is a key put inserted
// after the sweep.
func mirrorSweep(sh shardView, want map[uint64]int64, now int64, except uint64) {
	for k, v := range want {
		if v <= now {
			delete(want, k)
		}
	}
	for k := range want {
		if _, ok := sh.find(k); !ok && k != except {
			delete(want, k)
		}
	}
}

type shardView interface{ find(uint64) (int, bool) }
