package cache

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// waitFollowers blocks until n followers wait for k, without sleeping:
// followers register before they block, so polling with Gosched is enough.
func waitFollowers(t *testing.T, g *Group, k Key, n int) {
	t.Helper()
	for i := 0; g.waiting(k) < n; i++ {
		if i > 50_000_000 {
			t.Fatalf("only %d of %d followers arrived", g.waiting(k), n)
		}
		runtime.Gosched()
	}
}

func TestGroupCollapses(t *testing.T) {
	var g Group
	k := keyN(1)
	release := make(chan struct{})
	var calls atomic.Int32
	want := bodyEntry(3)
	fn := func(context.Context) (*Entry, error) {
		calls.Add(1)
		<-release
		return want, nil
	}
	const n = 100
	var wg sync.WaitGroup
	var leaders atomic.Int32
	results := make(chan *Entry, n)
	started := make(chan struct{})
	wg.Go(func() { // the leader
		close(started)
		e, leader, err := g.Do(context.Background(), k, fn)
		if err != nil || !leader {
			t.Errorf("leader: %v %v", leader, err)
		}
		results <- e
	})
	<-started
	for g.InFlight() == 0 {
		runtime.Gosched()
	}
	for range n - 1 {
		wg.Go(func() {
			e, leader, err := g.Do(context.Background(), k, fn)
			if leader {
				leaders.Add(1)
			}
			if err != nil {
				t.Error(err)
			}
			results <- e
		})
	}
	waitFollowers(t, &g, k, n-1)
	close(release)
	wg.Wait()
	close(results)
	if calls.Load() != 1 || leaders.Load() != 0 {
		t.Errorf("%d calls, %d extra leaders; want 1 call", calls.Load(), leaders.Load())
	}
	for e := range results {
		if e != want {
			t.Fatal("a caller got another entry")
		}
	}
	if g.InFlight() != 0 {
		t.Error("flight not removed")
	}
}

func TestGroupTenantsDoNotShare(t *testing.T) {
	var g Group
	body := []byte(`{"model":"m","temperature":0,"messages":[]}`)
	ka := mustKey(t, KeyInput{Scope: Scope{ID: "alice"}, Body: body})
	kb := mustKey(t, KeyInput{Scope: Scope{ID: "bob"}, Body: body})
	release := make(chan struct{})
	inA := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _, _ = g.Do(context.Background(), ka, func(context.Context) (*Entry, error) {
			close(inA)
			<-release
			return bodyEntry(1), nil
		})
	})
	<-inA
	// Bob's identical request while Alice's runs: Bob leads his own.
	_, leader, err := g.Do(context.Background(), kb, func(context.Context) (*Entry, error) { return bodyEntry(2), nil })
	if !leader || err != nil {
		t.Errorf("bob followed alice: leader %v err %v", leader, err)
	}
	close(release)
	wg.Wait()
}

func TestGroupErrorsAndCancellation(t *testing.T) {
	errUpstream := errors.New("upstream 500")
	t.Run("leader error reaches followers", func(t *testing.T) {
		var g Group
		k := keyN(2)
		release := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _, _ = g.Do(context.Background(), k, func(context.Context) (*Entry, error) { <-release; return nil, errUpstream })
		})
		for g.InFlight() == 0 {
			runtime.Gosched()
		}
		var ferr error
		wg.Go(func() { _, _, ferr = g.Do(context.Background(), k, nil) })
		waitFollowers(t, &g, k, 1)
		close(release)
		wg.Wait()
		if !errors.Is(ferr, errUpstream) {
			t.Errorf("follower err = %v", ferr)
		}
	})
	t.Run("follower ctx ends", func(t *testing.T) {
		var g Group
		k := keyN(3)
		release := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _, _ = g.Do(context.Background(), k, func(context.Context) (*Entry, error) { <-release; return bodyEntry(1), nil })
		})
		for g.InFlight() == 0 {
			runtime.Gosched()
		}
		ctx, cancel := context.WithCancel(context.Background())
		var ferr error
		wg.Go(func() { _, _, ferr = g.Do(ctx, k, nil) })
		waitFollowers(t, &g, k, 1)
		cancel()
		for g.waiting(k) != 0 {
			runtime.Gosched()
		}
		close(release)
		wg.Wait()
		if !errors.Is(ferr, context.Canceled) {
			t.Errorf("follower err = %v", ferr)
		}
	})
	t.Run("leader's client goes away", func(t *testing.T) {
		var g Group
		k := keyN(4)
		lctx, lcancel := context.WithCancel(context.Background())
		inLeader := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _, _ = g.Do(lctx, k, func(ctx context.Context) (*Entry, error) {
				close(inLeader)
				<-ctx.Done()
				return nil, ctx.Err()
			})
		})
		<-inLeader
		var fe *Entry
		var fleader bool
		var ferr error
		wg.Go(func() {
			fe, fleader, ferr = g.Do(context.Background(), k, func(context.Context) (*Entry, error) { return bodyEntry(7), nil })
		})
		waitFollowers(t, &g, k, 1)
		lcancel()
		wg.Wait()
		if ferr != nil || !fleader || fe == nil {
			t.Errorf("follower was poisoned: entry %v leader %v err %v", fe, fleader, ferr)
		}
	})
	t.Run("leader panics", func(t *testing.T) {
		var g Group
		k := keyN(5)
		release := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer func() { _ = recover() }()
			_, _, _ = g.Do(context.Background(), k, func(context.Context) (*Entry, error) { <-release; panic("boom") })
		})
		for g.InFlight() == 0 {
			runtime.Gosched()
		}
		var ferr error
		wg.Go(func() { _, _, ferr = g.Do(context.Background(), k, nil) })
		waitFollowers(t, &g, k, 1)
		close(release)
		wg.Wait()
		if !errors.Is(ferr, ErrLeaderPanicked) || g.InFlight() != 0 {
			t.Errorf("follower err = %v, in flight %d", ferr, g.InFlight())
		}
	})
	t.Run("no entry, no error", func(t *testing.T) {
		var g Group
		k := keyN(6)
		release := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _, _ = g.Do(context.Background(), k, func(context.Context) (*Entry, error) { <-release; return nil, nil })
		})
		for g.InFlight() == 0 {
			runtime.Gosched()
		}
		var ferr error
		wg.Go(func() { _, _, ferr = g.Do(context.Background(), k, nil) })
		waitFollowers(t, &g, k, 1)
		close(release)
		wg.Wait()
		if !errors.Is(ferr, ErrNotStorable) {
			t.Errorf("follower err = %v", ferr)
		}
	})
}

func TestGroupJoinFinish(t *testing.T) {
	k := keyN(7)
	t.Run("followers get the entry the leader finishes with", func(t *testing.T) {
		var g Group
		e, lead, err := g.Join(context.Background(), k)
		if lead == nil || e != nil || err != nil {
			t.Fatalf("first Join: %v %v %v", e, lead, err)
		}
		want := bodyEntry(2)
		got := make(chan *Entry, 3)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				e, l, err := g.Join(context.Background(), k)
				if l != nil || err != nil {
					t.Errorf("follower: lead %v err %v", l != nil, err)
				}
				got <- e
			})
		}
		waitFollowers(t, &g, k, 3)
		lead.Finish(want, nil)
		lead.Finish(nil, errors.New("ignored: second Finish"))
		wg.Wait()
		close(got)
		for e := range got {
			if e != want {
				t.Error("follower got another entry")
			}
		}
		if g.InFlight() != 0 {
			t.Error("flight not removed")
		}
	})
	t.Run("a failed leader's error reaches followers", func(t *testing.T) {
		var g Group
		_, lead, _ := g.Join(context.Background(), k)
		errc := make(chan error, 1)
		go func() {
			_, _, err := g.Join(context.Background(), k)
			errc <- err
		}()
		waitFollowers(t, &g, k, 1)
		lead.Finish(nil, nil)
		if err := <-errc; !errors.Is(err, ErrNotStorable) {
			t.Errorf("follower err = %v, want ErrNotStorable", err)
		}
	})
	t.Run("an abandoned leader hands over to a follower", func(t *testing.T) {
		var g Group
		ctx, cancel := context.WithCancel(context.Background())
		_, lead, _ := g.Join(ctx, k)
		leads := make(chan *Lead, 1)
		go func() {
			_, l, _ := g.Join(context.Background(), k)
			leads <- l
		}()
		waitFollowers(t, &g, k, 1)
		cancel()
		lead.Finish(nil, errors.New("client went away"))
		l := <-leads
		if l == nil {
			t.Fatal("follower did not become the new leader")
		}
		l.Finish(bodyEntry(1), nil)
		if g.InFlight() != 0 {
			t.Error("flight not removed")
		}
	})
}

func TestGroupFinishedCounts(t *testing.T) {
	var g Group
	ctx := context.Background()
	if n := g.Finished(); n != 0 {
		t.Fatalf("new group: Finished %d", n)
	}
	_, l, _ := g.Join(ctx, keyN(1))
	if n := g.Finished(); n != 0 {
		t.Fatalf("a running flight counted: Finished %d", n)
	}
	l.Finish(bodyEntry(10), nil)
	l.Finish(bodyEntry(10), nil) // a second Finish does nothing
	if n := g.Finished(); n != 1 {
		t.Fatalf("after one flight: Finished %d, want 1", n)
	}
	func() {
		defer func() { _ = recover() }()
		_, _, _ = g.Do(ctx, keyN(2), func(context.Context) (*Entry, error) { panic("boom") })
	}()
	if n := g.Finished(); n != 2 {
		t.Fatalf("after a panicked flight: Finished %d, want 2", n)
	}
}
