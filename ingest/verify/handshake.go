package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// wooPing answers WooCommerce's endpoint test: when a webhook is saved,
// WooCommerce POSTs "webhook_id=N" (form-encoded; some versions send
// {"webhook_id":N}) with no signature. Anything else returns nil.
func wooPing(r *Request, _ Keys) *Handshake {
	if r.Method != "" && !strings.EqualFold(r.Method, http.MethodPost) {
		return nil
	}
	if header(r.Header, "X-Wc-Webhook-Signature") != "" {
		return nil
	}
	b, err := payload(r)
	if err != nil || len(b) > 256 {
		return nil
	}
	if !isWooPing(bytes.TrimSpace(b)) {
		return nil
	}
	return &Handshake{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("ok")}
}

func isWooPing(b []byte) bool {
	if len(b) > 0 && b[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil || len(m) != 1 {
			return false
		}
		id, ok := m["webhook_id"]
		return ok && (allDigits(string(id)) || (len(id) > 2 && id[0] == '"' && allDigits(string(id[1:len(id)-1]))))
	}
	q, err := url.ParseQuery(string(b))
	if err != nil || len(q) != 1 || len(q["webhook_id"]) != 1 {
		return false
	}
	return allDigits(q.Get("webhook_id"))
}

// ebayChallenge answers eBay's endpoint validation: a GET with
// ?challenge_code=C gets {"challengeResponse": hex(sha256(C + token +
// endpoint))}, where token is the verification token (Keys.Token, else the
// first secret) and endpoint the URL without its query. Without a token it
// returns nil, and Verify then rejects the unsigned request.
func ebayChallenge(r *Request, k Keys) *Handshake {
	if r.Method != "" && !strings.EqualFold(r.Method, http.MethodGet) {
		return nil
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil
	}
	code := u.Query().Get("challenge_code")
	if code == "" {
		return nil
	}
	token := k.Token
	if token == "" && len(k.Secrets) > 0 {
		token = string(k.Secrets[0])
	}
	if token == "" {
		return nil
	}
	endpoint := r.URL
	if i := strings.IndexAny(endpoint, "?#"); i >= 0 {
		endpoint = endpoint[:i]
	}
	sum := sha256.Sum256([]byte(code + token + endpoint))
	body, _ := json.Marshal(struct {
		ChallengeResponse string `json:"challengeResponse"`
	}{hex.EncodeToString(sum[:])})
	return &Handshake{Status: http.StatusOK, ContentType: "application/json", Body: body}
}
