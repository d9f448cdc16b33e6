package main

import "testing"

func TestAimOf(t *testing.T) {
	const idx = 2 // arena's player fields: x, y, aim, ...
	tests := []struct {
		name    string
		data    string
		you     uint32
		aim     int
		ok      bool
		wantErr bool
	}{
		{"snapshot", `{"t":3,"m":"m_1","e":[[1,"p",10,20,90,100,0,0,0,"Ada"],[7,"p",1,2,45,100,0,0,0,"Bo"],[1048576,"w",9,9]]}`, 7, 45, true, false},
		{"diff change", `{"t":4,"b":3,"c":[[1,0,11],[7,0,2,2,135]]}`, 7, 135, true, false},
		{"diff change of other fields", `{"t":4,"b":3,"c":[[7,0,2,1,3]]}`, 7, 0, false, false},
		{"diff add", `{"t":4,"b":3,"a":[[7,"p",1,2,270,100,0,0,2,"Bo"]]}`, 7, 270, true, false},
		{"not mentioned", `{"t":4,"b":3,"c":[[1,2,5]],"r":[7]}`, 7, 0, false, false},
		{"short entity", `{"t":4,"e":[[7,"p",1]]}`, 7, 0, false, false},
		{"not json", `{"t":`, 7, 0, false, true},
		{"bad field", `{"e":[[7,"p",1,2,"x"]]}`, 7, 0, false, true},
	}
	for _, tt := range tests {
		aim, ok, err := aimOf([]byte(tt.data), tt.you, idx)
		if (err != nil) != tt.wantErr || ok != tt.ok || aim != tt.aim {
			t.Errorf("%s: aim %d ok %v err %v; want %d %v error %v", tt.name, aim, ok, err, tt.aim, tt.ok, tt.wantErr)
		}
	}
}

func FuzzAimOf(f *testing.F) {
	f.Add([]byte(`{"t":4,"b":3,"a":[[7,"p",1,2,270,100,0,0,2,"Bo"]],"c":[[7,2,5]]}`), uint32(7), 2)
	f.Add([]byte(`{"e":[[7]]}`), uint32(7), 0)
	f.Fuzz(func(t *testing.T, b []byte, you uint32, idx int) {
		if idx < 0 || idx > 16 {
			return
		}
		_, _, _ = aimOf(b, you, idx) // must not panic
	})
}
