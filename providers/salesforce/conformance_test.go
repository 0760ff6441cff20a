package salesforce_test

import (
	"testing"

	"github.com/accessbot/accessbot/providers/providertest"
)

// TestConformance runs the provider conformance kit against the fake
// Salesforce, for a permission set and a permission set group, with both
// OAuth flows.
func TestConformance(t *testing.T) {
	for _, flow := range []string{"ClientCredentials", "JWTBearer"} {
		t.Run(flow+"/PermissionSet", func(t *testing.T) {
			srv, p := setup(t, flow == "JWTBearer")
			srv.Assign("standing@acme.example", "Payments_Admin", false) // someone else's access stays
			providertest.Run(t, providertest.Harness{
				Provider:      p,
				Resource:      "salesforce-payments-admin",
				Settings:      permSet("Payments_Admin"),
				Identity:      "alice@acme.example",
				OtherIdentity: "carol@acme.example",
				Preexisting: func(t *testing.T, username string) {
					srv.Assign(username, "Payments_Admin", false) // an administrator, by hand
				},
			})
			if got := srv.Assignees("Payments_Admin", false); len(got) != 1 || got[0] != "standing@acme.example" {
				t.Errorf("assignees after the kit = %q, want only the standing one", got)
			}
		})
		t.Run(flow+"/PermissionSetGroup", func(t *testing.T) {
			srv, p := setup(t, flow == "JWTBearer")
			providertest.Run(t, providertest.Harness{
				Provider:      p,
				Resource:      "salesforce-support",
				Settings:      group("Support_Agents"),
				Identity:      "alice@acme.example",
				OtherIdentity: "carol@acme.example",
				Preexisting: func(t *testing.T, username string) {
					srv.Assign(username, "Support_Agents", true)
				},
			})
		})
	}
}
