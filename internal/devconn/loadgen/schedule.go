package loadgen

import (
	"context"
	"sync"
	"time"
)

// closedLoop runs Concurrency workers, each starting its next login when
// its previous one answered.
func (r *run) closedLoop(ctx context.Context) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, r.cfg.Users) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				r.loginOne(ctx, n, r.cfg.Clock.Now())
			}
		}()
	}
	for n := 0; n < r.cfg.Users && ctx.Err() == nil; n++ {
		next <- n
	}
	close(next)
	wg.Wait()
}

// openLoop starts login n at start + n/Rate, whether or not the earlier
// ones answered. A login due while MaxInFlight are in flight waits for a
// slot, counted as late; its latency still runs from its scheduled start,
// so the wait is measured rather than hidden.
func (r *run) openLoop(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	slots := make(chan struct{}, r.cfg.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	start := r.cfg.Clock.Now()
	for n := 0; n < r.cfg.Users; n++ {
		due := start.Add(time.Duration(n) * interval)
		if err := r.cfg.Clock.Sleep(ctx, due.Sub(r.cfg.Clock.Now())); err != nil {
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			r.startedLate()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		r.startLag(r.cfg.Clock.Now().Sub(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			r.loginOne(ctx, n, due)
		}()
	}
}

func (r *run) startedLate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.late++
}

func (r *run) startLag(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxLag = max(r.maxLag, d)
}
