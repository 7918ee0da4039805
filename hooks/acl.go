// Package hooks holds the embedded broker's hooks: access (JWT authentication and the topic
// ACL), presence and the hand-off of driver locations. Hooks run on the client's own
// goroutine: they validate, hand work to a buffered worker and return; none does network I/O.
package hooks

import "strings"

// Role names as they appear in the JWT "role" claim.
const (
	roleDriver     = "driver"
	roleDispatcher = "dispatcher"
	roleOps        = "ops"
	roleService    = "service"
)

// ACL is one client's topic rules, compiled once at CONNECT from its identity (README.md,
// "MQTT API"). Checks are a handful of string comparisons: O(1) in the number of clients
// and rules, and free of allocation.
//
//	driver d of tenant t   publish  tenants/t/drivers/d/location, tenants/t/drivers/d/replies
//	                       read     tenants/t/drivers/d/jobs, tenants/t/drivers/d/presence
//	dispatcher of t        read     tenants/t/... ; publishes nothing
//	ops                    read     everything, $SYS included; publishes nothing
//	service of t           publish and read tenants/t/...
//
// "Read" covers both subscription filters and the topics of delivered messages, so a filter is
// allowed only when every topic it can match is readable: a filter must start with the literal
// tenant prefix, so no wildcard ever reaches another tenant.
type ACL struct {
	role         string
	tenantPrefix string // "tenants/{t}/"
	location     string // tenants/{t}/drivers/{d}/location
	replies      string
	jobs         string
	presence     string
}

// CompileACL builds the rules of a client. Unknown roles get an ACL that allows nothing.
func CompileACL(role, tenant, subject string) ACL {
	a := ACL{role: role, tenantPrefix: "tenants/" + tenant + "/"}
	if role == roleDriver {
		base := a.tenantPrefix + "drivers/" + subject + "/"
		a.location, a.replies, a.jobs, a.presence = base+"location", base+"replies", base+"jobs", base+"presence"
	}
	return a
}

// CanPublish reports whether the client may publish to topic.
func (a *ACL) CanPublish(topic string) bool {
	switch a.role {
	case roleDriver:
		return topic == a.location || topic == a.replies
	case roleService:
		return a.underTenant(topic) && !hasWildcard(topic)
	}
	return false
}

// CanRead reports whether the client may subscribe to filter, or receive a message on topic.
func (a *ACL) CanRead(filter string) bool {
	filter = stripShare(filter)
	switch a.role {
	case roleDriver:
		return filter == a.jobs || filter == a.presence
	case roleDispatcher, roleService:
		return a.underTenant(filter)
	case roleOps:
		return filter != ""
	}
	return false
}

// underTenant: the filter or topic starts with the literal "tenants/{t}/" and goes deeper.
func (a *ACL) underTenant(s string) bool {
	return len(s) > len(a.tenantPrefix) && strings.HasPrefix(s, a.tenantPrefix)
}

// stripShare turns "$share/{group}/{filter}" into "{filter}"; other filters are unchanged.
func stripShare(f string) string {
	const share = "$share/"
	if !strings.HasPrefix(f, share) {
		return f
	}
	rest := f[len(share):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return ""
	}
	return rest[i+1:]
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "+#") }
