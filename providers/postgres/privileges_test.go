package postgres

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestExcessPrivileges checks the report of what the provider's login role
// can do beyond the policy's needs: nothing for a role made with
// setup.sql; SUPERUSER for a superuser; CREATEROLE, roles it could grant
// that no resource names and roles it is a member of, for a role given
// too much.
func TestExcessPrivileges(t *testing.T) {
	d := connect(t)
	s := suffix(t)
	bot, role := "accessbot_"+s, "readonly_"+s
	d.role(role, "NOLOGIN")
	sql, err := os.ReadFile("setup.sql")
	if err != nil {
		t.Fatal(err)
	}
	script := regexp.MustCompile(`\baccessbot\b`).ReplaceAllString(string(sql), bot)
	script = regexp.MustCompile(`\breadonly\b`).ReplaceAllString(script, role)
	t.Cleanup(func() { d.conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+quote(bot)) })
	d.exec(script)
	need := []json.RawMessage{settings(role)}

	t.Run("LeastPrivilege", func(t *testing.T) {
		p := newProvider(t, d.dsnAs(bot))
		got, err := p.ExcessPrivileges(ctx(t), need)
		if err != nil || len(got) != 0 {
			t.Fatalf("ExcessPrivileges = %q, %v; want nothing for the setup.sql role", got, err)
		}
	})
	t.Run("Superuser", func(t *testing.T) {
		p := newProvider(t, testDSN())
		got, err := p.ExcessPrivileges(ctx(t), need)
		if err != nil || len(got) == 0 || !strings.Contains(got[0], "SUPERUSER") {
			t.Fatalf("ExcessPrivileges as a superuser = %q, %v; want SUPERUSER named", got, err)
		}
	})
	t.Run("TooMuch", func(t *testing.T) {
		other := d.role("payroll_"+s, "NOLOGIN")
		member := d.role("auditors_"+s, "NOLOGIN")
		d.exec("ALTER ROLE " + quote(bot) + " CREATEROLE")
		d.exec("GRANT " + quote(other) + " TO " + quote(bot) + " WITH ADMIN OPTION")
		d.exec("GRANT " + quote(member) + " TO " + quote(bot))
		p := newProvider(t, d.dsnAs(bot))
		got, err := p.ExcessPrivileges(ctx(t), need)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(got, "\n")
		for _, want := range []string{"CREATEROLE", "can grant roles no resource names (ADMIN OPTION): " + other, "member of roles no resource names, and holds their privileges: " + member} {
			if !strings.Contains(all, want) {
				t.Errorf("report %q lacks %q", all, want)
			}
		}
		if strings.Contains(all, role+",") || strings.HasSuffix(all, role) {
			t.Errorf("report %q names the policy's own role", all)
		}
	})
}
