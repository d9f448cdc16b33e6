package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"comet"
)

// Upstream limits (docs/PROTOCOL.md).
const (
	maxSendEvents = 64
	maxSendBytes  = 16 << 10
	maxTypeLen    = 64
)

// clientEvent is one event of a POST /send body.
type clientEvent struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// decodeUpstream parses a /send body: a JSON array of at most maxSendEvents
// events, each with a positive seq and a non-empty type. Errors are
// *comet.Error (EINVALID, ETOOLARGE) and say what is wrong.
func decodeUpstream(body []byte) ([]clientEvent, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return nil, comet.Errorf(comet.EINVALID, "body must be a JSON array of events")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, comet.Errorf(comet.EINVALID, "body is not valid JSON: %s", jsonErr(err))
	}
	if len(raw) > maxSendEvents {
		return nil, comet.Errorf(comet.EINVALID, "at most %d events per request, got %d", maxSendEvents, len(raw))
	}
	evs := make([]clientEvent, 0, len(raw))
	for i, r := range raw {
		var ev clientEvent
		if err := json.Unmarshal(r, &ev); err != nil {
			return nil, comet.Errorf(comet.EINVALID, "event %d: %s", i, jsonErr(err))
		}
		switch {
		case ev.Seq == 0:
			return nil, comet.Errorf(comet.EINVALID, "event %d: seq must be a positive integer", i)
		case ev.Type == "":
			return nil, comet.Errorf(comet.EINVALID, "event %d: type is required", i)
		case len(ev.Type) > maxTypeLen:
			return nil, comet.Errorf(comet.EINVALID, "event %d: type longer than %d bytes", i, maxTypeLen)
		}
		if len(ev.Data) == 0 || string(ev.Data) == "null" {
			ev.Data = json.RawMessage("{}")
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// jsonKind names the JSON kind a Go type decodes from, so no error shows a
// Go type name (float64, server.clientEvent) to a client.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		if t == reflect.TypeFor[json.RawMessage]() {
			return "a JSON value"
		}
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return "a JSON value"
	}
}

// jsonErr shortens encoding/json's errors to what a client can act on.
func jsonErr(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case asErr(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%s must be %s", te.Field, jsonKind(te.Type))
		}
		return fmt.Sprintf("expected %s, got %s", jsonKind(te.Type), te.Value)
	case asErr(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	default:
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}
