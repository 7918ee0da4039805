// Package verify is the catalogue of commerce webhook signature schemes and
// platform presets used by the HTTP edge.
//
// A [Scheme] checks that a [Request] came from the platform, given the store's
// verification material ([Keys]). A [Preset] pairs a scheme with what the
// platform sends besides the signature: the de-duplication id, the event type,
// an optional endpoint handshake and whether the body itself is authenticated.
// [Lookup] returns a preset by the lower-case platform id used in the webhook
// route; the exported scheme constructors let configuration describe platforms
// that have no preset.
//
// The package is pure: no network, no database and no clock of its own (the
// time comes in [Request.Now]). Every comparison of secret material is
// constant-time, and signatures are always checked over the raw body bytes as
// received: a body sent with Content-Encoding gzip is verified as the
// compressed bytes. Only the reading of body fields (event id, event type,
// field signatures) looks at the decoded payload.
//
// The edge calls [Preset.Handshake] first (when set): a non-nil answer is sent
// as is and nothing is stored. Otherwise it calls [Preset.Verify] and maps the
// error with [errors.Is]: [ErrMalformed] to 400, the other sentinels to 401;
// [Reason] gives the metric label. Error messages never contain secrets,
// tokens or signature values.
package verify
