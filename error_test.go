package comet

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorMessageNeverSendsInternalDetail(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		code, message string
	}{
		{"nil", nil, "", ""},
		{"client error", Errorf(EINVALID, "name too long"), EINVALID, "name too long"},
		{"wrapped client error", fmt.Errorf("rename: %w", Errorf(ECONFLICT, "name taken")), ECONFLICT, "name taken"},
		{"internal with detail", Errorf(EINTERNAL, "hijack: %v", errors.New("conn reset by 10.0.0.7")), EINTERNAL, "internal error"},
		{"wrapped internal", fmt.Errorf("session: %w", Errorf(EINTERNAL, "db at /var/lib/x locked")), EINTERNAL, "internal error"},
		{"plain error", errors.New("open /secret/path: permission denied"), EINTERNAL, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.message)
			}
		})
	}
}
