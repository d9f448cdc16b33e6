package gameloop

import "testing"

func TestInputQueueBudgetAndMembership(t *testing.T) {
	q := newInputQueue()
	if ok, _ := q.push("p1", 1, nil); ok {
		t.Fatal("input of a non-member accepted")
	}
	q.admit("p1", 7)
	q.admit("p2", 8)
	for i := range MaxInputsPerTick + 3 {
		ok, dropped := q.push("p1", i, nil)
		if !ok || dropped != (i >= MaxInputsPerTick) {
			t.Fatalf("push %d: ok %v dropped %v", i, ok, dropped)
		}
	}
	if ok, dropped := q.push("p2", "x", nil); !ok || dropped {
		t.Fatal("one player's flood cost another player its input")
	}
	got := q.drain(nil)
	if len(got) != MaxInputsPerTick+1 || q.dropped != 3 {
		t.Fatalf("drained %d inputs, dropped %d", len(got), q.dropped)
	}
	for i, in := range got[:MaxInputsPerTick] {
		if in.num != 7 || in.in != i {
			t.Fatalf("input %d is %+v: order or numbering lost", i, in)
		}
	}
	if ok, dropped := q.push("p1", 0, nil); !ok || dropped {
		t.Fatal("budget not reset by drain")
	}
	q.forget("p1")
	if ok, _ := q.push("p1", 0, nil); ok {
		t.Fatal("input accepted after forget")
	}
}
