package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The demo runs the real cycle and says so; it fails if any step does
// not happen.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := demo(context.Background(), &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"/access request payments-admin",
		"Approve",
		"PUT /orgs/acme/teams/payments-admins/memberships/alice-gh",
		"DELETE /orgs/acme/teams/payments-admins/memberships/alice-gh",
		"still a member: false",
		"expired",
		"audit verify`: intact",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the narration lacks %q:\n%s", want, out.String())
		}
	}
}
