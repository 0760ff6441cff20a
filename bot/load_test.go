package bot_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// Load of BenchmarkRequestsUnderLoad: 300 requests from 300 people, sent
// by 30 senders at once, for a resource whose approvers are asked by DM.
const (
	loadRequests = 300
	loadSenders  = 30
)

// BenchmarkRequestsUnderLoad measures the acknowledgement of
// `/access request` under concurrent load, through the real handler,
// service, store and delivery worker against the fake Slack and GitHub,
// side by side with a baseline measured in the same run: a handler that
// verifies the signature and makes one fsynced bbolt write per request.
// It reports the ratios of the acknowledgement's p50 and p99 to the
// baseline's, requests filed and delivered per second against raw fsynced
// bbolt Updates per second, and fdatasync calls per request (two per bbolt
// commit). Run it with:
//
//	go test -run '^$' -bench RequestsUnderLoad -benchtime 1x -count 5 ./bot/
func BenchmarkRequestsUnderLoad(b *testing.B) {
	for range b.N {
		base := baselineLatencies(b)
		raw := rawUpdatesPerSecond(b)
		real, acked, delivered, commits := accessbotUnderLoad(b, newHarness(b))
		b.ReportMetric(ratio(percentile(real, 50), percentile(base, 50)), "p50/baseline")
		b.ReportMetric(ratio(percentile(real, 99), percentile(base, 99)), "p99/baseline")
		b.ReportMetric(acked/raw, "submitted/raw-update")
		b.ReportMetric(delivered/raw, "delivered/raw-update")
		b.ReportMetric(2*commits, "fdatasync/request")
		b.ReportMetric(float64(percentile(real, 50).Microseconds()), "p50-µs")
		b.ReportMetric(float64(percentile(base, 50).Microseconds()), "base-p50-µs")
	}
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// sendAll sends one signed slash command per body through h, loadSenders
// at a time, and returns each one's time to the answer.
func sendAll(b *testing.B, h http.Handler, forms []func() *http.Request) []time.Duration {
	b.Helper()
	out := make([]time.Duration, len(forms))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range loadSenders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(forms) {
					return
				}
				req := forms[i]()
				w := httptest.NewRecorder()
				began := time.Now()
				h.ServeHTTP(w, req)
				out[i] = time.Since(began)
				if w.Code != http.StatusOK {
					b.Errorf("request %d: status %d: %s", i, w.Code, w.Body)
				}
			}
		})
	}
	wg.Wait()
	return out
}

func loadUser(i int) string { return fmt.Sprintf("U0LOAD%03d", i) }

// baselineLatencies runs the baseline handler under the same load.
func baselineLatencies(b *testing.B) []time.Duration {
	b.Helper()
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "baseline.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var seq atomic.Uint64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := slack.NewSecretsVerifier(r.Header, secret)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(io.TeeReader(r.Body, &v))
		if err := v.Ensure(); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		err = db.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("requests"))
			if err != nil {
				return err
			}
			return bk.Put(fmt.Appendf(nil, "%016d", seq.Add(1)), body)
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{"response_type":"ephemeral","text":"ok"}`))
	})
	s := slackfake.NewServer(b)
	return sendAll(b, h, loadForms(s, time.Now))
}

// loadForms returns the signed commands of the load, one per person.
func loadForms(s *slackfake.Server, now func() time.Time) []func() *http.Request {
	forms := make([]func() *http.Request, loadRequests)
	for i := range forms {
		forms[i] = func() *http.Request {
			return slackfake.SignedCommand(secret, now(), s.Command(loadUser(i), "request payments-repo-write 1h INC-1 load"))
		}
	}
	return forms
}

// rawUpdatesPerSecond is how many fsynced bbolt Updates one writer makes
// per second on this machine.
func rawUpdatesPerSecond(b *testing.B) float64 {
	b.Helper()
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	value := make([]byte, 512)
	began := time.Now()
	for i := range loadRequests {
		if err := db.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("raw"))
			if err != nil {
				return err
			}
			return bk.Put(fmt.Appendf(nil, "%016d", i), value)
		}); err != nil {
			b.Fatal(err)
		}
	}
	return loadRequests / time.Since(began).Seconds()
}

// accessbotUnderLoad runs the load through accessbot in h and returns
// each acknowledgement's time, requests submitted (acknowledged) per
// second, requests delivered (approvers asked by DM, audit channel told)
// per second, and store commits per request (a bbolt commit is two
// fdatasync calls).
func accessbotUnderLoad(b *testing.B, h *harness) ([]time.Duration, float64, float64, float64) {
	b.Helper()
	p := testPolicy()
	for i := range loadRequests {
		p.Identities[loadUser(i)] = map[string]string{"github": fmt.Sprintf("load%03d-gh", i)}
	}
	p.Resources[1].Approvers = []string{bob, carol} // payments-repo-write: asked by DM
	p.Hash = "load-policy"
	if err := h.svc.SetPolicy(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	h.settle()
	commits := h.store.Commits()
	began := time.Now()
	acks := sendAll(b, h.handler, loadForms(h.slack, h.clock.Now))
	acked := time.Since(began)
	h.settle()
	took := time.Since(began)
	open, err := h.store.OpenRequests(context.Background(), "")
	if err != nil {
		b.Fatal(err)
	}
	asked := 0
	for _, r := range open {
		if r.Status == approvals.StatusPending && len(r.Messages) == 2 {
			asked++
		}
	}
	if asked != loadRequests {
		b.Fatalf("%d of %d requests pending with both approvers asked", asked, loadRequests)
	}
	return acks, loadRequests / acked.Seconds(), loadRequests / took.Seconds(), float64(h.store.Commits()-commits) / loadRequests
}
