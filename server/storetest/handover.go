package storetest

import (
	"bytes"
	"sync"
	"testing"

	"comet"
)

func init() {
	tests = append(tests,
		test{"HandoverSaveTake", testHandoverSaveTake},
		test{"HandoverTakeOnce", testHandoverTakeOnce},
	)
}

func testHandoverSaveTake(t *testing.T, e *env) {
	ctx := e.ctx
	_, err := e.TakeHandover(ctx)
	wantCode(t, err, comet.ENOTFOUND)
	wantCode(t, e.SaveHandover(ctx, nil), comet.EINVALID)

	// A later save replaces an earlier one; the blob comes back byte for
	// byte (NULs and invalid UTF-8 included: it is binary).
	mustNil(t, e.SaveHandover(ctx, []byte("first")))
	second := append(bytes.Repeat([]byte{0, 0xff, 'x'}, 100_000), '}')
	mustNil(t, e.SaveHandover(ctx, second))
	got, err := e.TakeHandover(ctx)
	mustNil(t, err)
	if !bytes.Equal(got, second) {
		t.Fatalf("took %d bytes, want the second save's %d", len(got), len(second))
	}
	// Taken means gone.
	_, err = e.TakeHandover(ctx)
	wantCode(t, err, comet.ENOTFOUND)

	mustNil(t, e.SaveHandover(ctx, []byte("third")))
	got, err = e.TakeHandover(ctx)
	mustNil(t, err)
	if string(got) != "third" {
		t.Fatalf("took %q, want third", got)
	}
}

// testHandoverTakeOnce: two successors taking at once get it once between them.
func testHandoverTakeOnce(t *testing.T, e *env) {
	ctx := e.ctx
	mustNil(t, e.SaveHandover(ctx, []byte("blob")))
	var mu sync.Mutex
	var wg sync.WaitGroup
	taken, notFound := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := e.TakeHandover(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch comet.ErrorCode(err) {
			case "":
				if string(b) != "blob" {
					t.Errorf("took %q", b)
				}
				taken++
			case comet.ENOTFOUND:
				notFound++
			default:
				t.Errorf("take: %v", err)
			}
		}()
	}
	wg.Wait()
	if taken != 1 || notFound != 7 {
		t.Fatalf("taken %d times, not found %d times; want 1 and 7", taken, notFound)
	}
}
