package pagerduty_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/pagerduty"
	"github.com/accessbot/accessbot/pagerduty/pagerdutytest"
)

const testToken = "u+PDTESTTOKEN0123456789"

var (
	t0  = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	now = t0.Add(2 * time.Hour)
)

func setup(t *testing.T) (*pagerdutytest.Server, *pagerduty.Client) {
	t.Helper()
	srv := pagerdutytest.NewServer(testToken, t.Errorf)
	t.Cleanup(srv.Close)
	srv.AddUser("PALICE1", "Alice Archer", "alice@acme.example")
	srv.AddUser("PALICE2", "Alice Other", "alice.other@acme.example") // the query matches her too
	srv.AddUser("PBOB001", "Bob Baker", "bob@acme.example")
	srv.AddOnCall(pagerdutytest.OnCall{UserID: "PALICE1", ScheduleID: "PPAYMNT", Start: t0, End: t0.Add(12 * time.Hour)})
	srv.AddOnCall(pagerdutytest.OnCall{UserID: "PALICE2", ScheduleID: "PSEARCH", Start: t0, End: t0.Add(12 * time.Hour)})
	srv.AddOnCall(pagerdutytest.OnCall{UserID: "PBOB001", ScheduleID: "PPAYMNT", Start: t0.Add(12 * time.Hour), End: t0.Add(24 * time.Hour)})
	c, err := pagerduty.New(pagerduty.Config{Token: testToken, APIURL: srv.URL(), HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestOnCall(t *testing.T) {
	_, c := setup(t)
	cases := []struct {
		name      string
		email     string
		schedules []string
		at        time.Time
		want      string
	}{
		{"OnCall", "alice@acme.example", []string{"PSEARCH", "PPAYMNT"}, now, "PPAYMNT"},
		{"EmailCase", "Alice@ACME.example", []string{"PPAYMNT"}, now, "PPAYMNT"},
		{"WrongSchedule", "alice@acme.example", []string{"PSEARCH"}, now, ""},
		{"NotYet", "bob@acme.example", []string{"PPAYMNT"}, now, ""},
		{"ShiftStarts", "bob@acme.example", []string{"PPAYMNT"}, t0.Add(12 * time.Hour), "PPAYMNT"},
		{"ShiftEnded", "alice@acme.example", []string{"PPAYMNT"}, t0.Add(12 * time.Hour), ""},
		{"NoSchedules", "alice@acme.example", nil, now, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, on, err := c.OnCall(context.Background(), tc.email, tc.schedules, tc.at)
			if err != nil {
				t.Fatalf("OnCall: %v", err)
			}
			if got != tc.want || on != (tc.want != "") {
				t.Errorf("OnCall = %q, %v; want %q, %v", got, on, tc.want, tc.want != "")
			}
		})
	}
}

func TestUnknownUser(t *testing.T) {
	_, c := setup(t)
	_, on, err := c.OnCall(context.Background(), "carol@acme.example", []string{"PPAYMNT"}, now)
	if on || !errors.Is(err, pagerduty.ErrUserNotFound) {
		t.Fatalf("OnCall = %v, %v; want ErrUserNotFound", on, err)
	}
}

func TestUnauthorized(t *testing.T) {
	srv, _ := setup(t)
	c, err := pagerduty.New(pagerduty.Config{Token: "wrong-" + testToken, APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, on, err := c.OnCall(context.Background(), "alice@acme.example", []string{"PPAYMNT"}, now)
	var ae *pagerduty.APIError
	if on || !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Temporary() {
		t.Fatalf("OnCall with a wrong token = %v, %v; want a permanent 401", on, err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error %q contains the token", err)
	}
}

func TestServerError(t *testing.T) {
	srv, c := setup(t)
	srv.FailNext(http.StatusServiceUnavailable)
	_, on, err := c.OnCall(context.Background(), "alice@acme.example", []string{"PPAYMNT"}, now)
	var ae *pagerduty.APIError
	if on || !errors.As(err, &ae) || !ae.Temporary() {
		t.Fatalf("OnCall after a 503 = %v, %v; want a temporary error", on, err)
	}
	// The user lookup is cached; a failed on-call lookup is not.
	if _, on, err := c.OnCall(context.Background(), "alice@acme.example", []string{"PPAYMNT"}, now); err != nil || !on {
		t.Fatalf("OnCall after recovery = %v, %v", on, err)
	}
}

func TestUserIsCached(t *testing.T) {
	srv, c := setup(t)
	for range 3 {
		if _, _, err := c.OnCall(context.Background(), "alice@acme.example", []string{"PPAYMNT"}, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Requests(); n != 4 {
		t.Errorf("requests = %d, want 4 (one user lookup, three on-call lookups)", n)
	}
}

func TestPagination(t *testing.T) {
	srv, c := setup(t)
	// A permanent on-call has null start and end.
	srv.AddOnCall(pagerdutytest.OnCall{UserID: "PALICE1", ScheduleID: "PALWAYS"})
	got, on, err := c.OnCall(context.Background(), "alice@acme.example", []string{"PALWAYS"}, now)
	if err != nil || !on || got != "PALWAYS" {
		t.Fatalf("OnCall = %q, %v, %v; want PALWAYS", got, on, err)
	}
	// 149 periods that start just after the instant (PagerDuty returns
	// them, the window being one second long) ahead of the one that covers
	// it: the answer is on the second page, and the others must not count.
	var schedules []string
	for i := range 150 {
		id := fmt.Sprintf("PX%03d", i)
		schedules = append(schedules, id)
		start := now.Add(time.Second)
		if i == 149 {
			start = t0
		}
		srv.AddOnCall(pagerdutytest.OnCall{UserID: "PALICE1", ScheduleID: id, Start: start, End: now.Add(time.Hour)})
	}
	got, on, err = c.OnCall(context.Background(), "alice@acme.example", schedules, now)
	if err != nil || !on || got != "PX149" {
		t.Fatalf("OnCall on the second page = %q, %v, %v; want PX149", got, on, err)
	}
}

func TestNewNeedsToken(t *testing.T) {
	if _, err := pagerduty.New(pagerduty.Config{}); err == nil || !strings.Contains(err.Error(), "ACCESSBOT_PAGERDUTY_TOKEN") {
		t.Fatalf("New without a token = %v", err)
	}
}
