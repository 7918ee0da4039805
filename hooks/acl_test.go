package hooks

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestACLTable(t *testing.T) {
	driver := CompileACL(roleDriver, "acme", "d1")
	dispatcher := CompileACL(roleDispatcher, "acme", "u1")
	ops := CompileACL(roleOps, "acme", "o1")
	service := CompileACL(roleService, "acme", "svc")
	nobody := CompileACL("admin", "acme", "x")

	type check struct {
		acl     *ACL
		name    string
		publish bool
		topic   string
		want    bool
	}
	cases := []check{
		// driver: only its own subtree, only the documented leaves
		{&driver, "driver", true, "tenants/acme/drivers/d1/location", true},
		{&driver, "driver", true, "tenants/acme/drivers/d1/replies", true},
		{&driver, "driver", true, "tenants/acme/drivers/d2/location", false},
		{&driver, "driver", true, "tenants/acme/drivers/d10/location", false},
		{&driver, "driver", true, "tenants/acme/drivers/d1/jobs", false},
		{&driver, "driver", true, "tenants/acme/drivers/d1/presence", false},
		{&driver, "driver", true, "tenants/acme2/drivers/d1/location", false},
		{&driver, "driver", true, "tenants/acme/orders/o1", false},
		{&driver, "driver", false, "tenants/acme/drivers/d1/jobs", true},
		{&driver, "driver", false, "tenants/acme/drivers/d1/presence", true},
		{&driver, "driver", false, "$share/g/tenants/acme/drivers/d1/jobs", true},
		{&driver, "driver", false, "tenants/acme/drivers/d1/location", false},
		{&driver, "driver", false, "tenants/acme/drivers/d1/#", false},
		{&driver, "driver", false, "tenants/acme/drivers/+/jobs", false},
		{&driver, "driver", false, "tenants/acme/#", false},
		{&driver, "driver", false, "tenants/+/#", false},
		{&driver, "driver", false, "#", false},
		{&driver, "driver", false, "$SYS/#", false},
		// dispatcher: its tenant, read only
		{&dispatcher, "dispatcher", false, "tenants/acme/#", true},
		{&dispatcher, "dispatcher", false, "tenants/acme/drivers/+/location", true},
		{&dispatcher, "dispatcher", false, "tenants/acme/orders/o1", true},
		{&dispatcher, "dispatcher", false, "$share/dash/tenants/acme/#", true},
		{&dispatcher, "dispatcher", false, "tenants/acme", false},
		{&dispatcher, "dispatcher", false, "tenants/acme/", false},
		{&dispatcher, "dispatcher", false, "tenants/acme-b/#", false},
		{&dispatcher, "dispatcher", false, "tenants/acmeb/#", false},
		{&dispatcher, "dispatcher", false, "tenants/+/#", false},
		{&dispatcher, "dispatcher", false, "tenants/+/orders/o1", false},
		{&dispatcher, "dispatcher", false, "+/#", false},
		{&dispatcher, "dispatcher", false, "+/acme/#", false},
		{&dispatcher, "dispatcher", false, "#", false},
		{&dispatcher, "dispatcher", false, "$SYS/#", false},
		{&dispatcher, "dispatcher", false, "$share/g/#", false},
		{&dispatcher, "dispatcher", false, "$share/tenants/acme/#", false},
		{&dispatcher, "dispatcher", true, "tenants/acme/orders/o1", false},
		{&dispatcher, "dispatcher", true, "tenants/acme/drivers/d1/jobs", false},
		// ops: read everything, write nothing
		{&ops, "ops", false, "#", true},
		{&ops, "ops", false, "$SYS/#", true},
		{&ops, "ops", false, "tenants/other/#", true},
		{&ops, "ops", true, "tenants/acme/drivers/d1/jobs", false},
		{&ops, "ops", true, "$SYS/broker/uptime", false},
		// service: its tenant, read and write
		{&service, "service", true, "tenants/acme/drivers/d1/jobs", true},
		{&service, "service", true, "tenants/acme/#", false},
		{&service, "service", true, "tenants/other/drivers/d1/jobs", false},
		{&service, "service", false, "tenants/acme/#", true},
		{&service, "service", false, "tenants/other/#", false},
		// unknown role: nothing
		{&nobody, "unknown", false, "tenants/acme/#", false},
		{&nobody, "unknown", true, "tenants/acme/drivers/x/location", false},
	}
	for _, c := range cases {
		var got bool
		if c.publish {
			got = c.acl.CanPublish(c.topic)
		} else {
			got = c.acl.CanRead(c.topic)
		}
		verb := "read"
		if c.publish {
			verb = "publish"
		}
		assert.Equal(t, c.want, got, "%s %s %s", c.name, verb, c.topic)
	}
}

func TestACLChecksDoNotAllocate(t *testing.T) {
	driver := CompileACL(roleDriver, "acme", "d1")
	dispatcher := CompileACL(roleDispatcher, "acme", "u1")
	allocs := testing.AllocsPerRun(1000, func() {
		driver.CanPublish("tenants/acme/drivers/d1/location")
		driver.CanRead("tenants/acme/drivers/d1/jobs")
		dispatcher.CanRead("$share/g/tenants/acme/drivers/d1/location")
		dispatcher.CanPublish("tenants/acme/orders/o1")
	})
	assert.Zero(t, allocs)
}

// topicMatches reports whether an MQTT filter matches a topic name (reference implementation
// for the fuzzer).
func topicMatches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, part := range f {
		if part == "#" {
			return true
		}
		if i >= len(tp) {
			return false
		}
		if part != "+" && part != tp[i] {
			return false
		}
	}
	return len(f) == len(tp)
}

// FuzzACL: whatever filter a dispatcher or driver may subscribe to, no topic of another tenant
// (or another driver) can match it; dispatchers and ops never publish, drivers only their own topics.
func FuzzACL(f *testing.F) {
	for _, s := range []string{"tenants/acme/#", "tenants/+/#", "#", "+/#", "$share/g/tenants/acme/#", "tenants/acme/drivers/d1/jobs", "tenants/acme", "$SYS/#", "tenants/acme/drivers/+/location"} {
		f.Add(s)
	}
	foreign := []string{"tenants/other/orders/o1", "tenants/acme-2/drivers/d1/jobs", "tenants/acmx/x", "$SYS/broker/clients", "other/acme/x"}
	otherDriver := []string{"tenants/acme/drivers/d2/jobs", "tenants/acme/drivers/d1/location", "tenants/acme/orders/o1"}
	dispatcher := CompileACL(roleDispatcher, "acme", "u1")
	driver := CompileACL(roleDriver, "acme", "d1")
	ops := CompileACL(roleOps, "acme", "o")
	f.Fuzz(func(t *testing.T, filter string) {
		inner := stripShare(filter)
		if dispatcher.CanRead(filter) {
			for _, topic := range foreign {
				if topicMatches(inner, topic) {
					t.Fatalf("dispatcher filter %q reaches %q", filter, topic)
				}
			}
		}
		if driver.CanRead(filter) {
			for _, topic := range append(foreign, otherDriver...) {
				if topicMatches(inner, topic) {
					t.Fatalf("driver filter %q reaches %q", filter, topic)
				}
			}
		}
		if dispatcher.CanPublish(filter) || ops.CanPublish(filter) {
			t.Fatalf("read-only role may publish %q", filter)
		}
		if driver.CanPublish(filter) && filter != "tenants/acme/drivers/d1/location" && filter != "tenants/acme/drivers/d1/replies" {
			t.Fatalf("driver may publish %q", filter)
		}
	})
}

func BenchmarkACL(b *testing.B) {
	driver := CompileACL(roleDriver, "acme", "d1")
	dispatcher := CompileACL(roleDispatcher, "acme", "u1")
	b.Run("driver-publish", func(b *testing.B) {
		for b.Loop() {
			driver.CanPublish("tenants/acme/drivers/d1/location")
		}
	})
	b.Run("dispatcher-delivery", func(b *testing.B) {
		for b.Loop() {
			dispatcher.CanRead("tenants/acme/drivers/d1/location")
		}
	})
}
