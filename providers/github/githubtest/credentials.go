package githubtest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// credentials is what the fake says the bot's own credentials may do.
type credentials struct {
	// installation's permissions and repository selection, as GET
	// /app/installations/{id} reports them; nil until SetInstallation.
	permissions map[string]string
	selection   string
	// scopes is the X-OAuth-Scopes header of a classic token.
	scopes string
	// tokenRequests are the bodies of the installation token requests.
	tokenRequests []TokenRequest
}

// TokenRequest is what an installation token was asked for: the
// repositories and permissions it was narrowed to (none: all the
// installation has).
type TokenRequest struct {
	Repositories []string          `json:"repositories,omitempty"`
	Permissions  map[string]string `json:"permissions,omitempty"`
}

// TokenRequests returns what each installation token was asked for,
// oldest first.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.credentials.tokenRequests...)
}

// SetInstallation sets what GET /app/installations/{id} reports: the
// installation's permissions (for example {"members": "write",
// "administration": "write", "metadata": "read"}) and its repository
// selection ("all" or "selected").
func (s *Server) SetInstallation(permissions map[string]string, selection string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credentials.permissions, s.credentials.selection = permissions, selection
}

// SetTokenScopes sets the X-OAuth-Scopes header GitHub returns for a
// classic personal access token, for example "admin:org, repo, delete_repo".
func (s *Server) SetTokenScopes(scopes string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credentials.scopes = scopes
}

// getInstallation serves GET /app/installations/{id}, which GitHub answers
// only to the app's JWT.
func (s *Server) getInstallation(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	scheme, jwt, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || jwt == "" {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg := s.checkJWT(jwt); msg != "" {
		writeError(w, http.StatusUnauthorized, msg)
		return
	}
	perms, selection := s.credentials.permissions, s.credentials.selection
	if perms == nil {
		perms = map[string]string{"members": "write", "administration": "write", "metadata": "read"}
	}
	if selection == "" {
		selection = "selected"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "app_id": 1, "target_type": "Organization",
		"account":              map[string]any{"login": "acme", "type": "Organization"},
		"permissions":          perms,
		"repository_selection": selection,
	})
}

// rateLimit serves GET /rate_limit, with the token's scopes in
// X-OAuth-Scopes as GitHub sends them for a classic token.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	scopes := s.credentials.scopes
	s.mu.Unlock()
	if scopes != "" {
		w.Header().Set("X-OAuth-Scopes", scopes)
	}
	reset := time.Now().Add(time.Hour).Unix()
	core := map[string]any{"limit": 5000, "remaining": 4999, "reset": reset, "used": 1}
	writeJSON(w, http.StatusOK, map[string]any{"resources": map[string]any{"core": core}, "rate": core})
}
