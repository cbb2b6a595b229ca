package pushapi_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/pushapi"
	"github.com/chatgate/chatgate/session"
)

// The chat app mounts the push API at /api/push; other apps call it with a
// bearer key.
func ExampleRegister() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	store := session.New(rdb, nil)

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	pushapi.Register(app.Group("/api/push"), store.Push, &pushapi.Options{APIKeys: []string{"k1"}})

	call := func(method, path, body, key string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := app.Test(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, string(b))
	}
	call("POST", "/api/push/send/group", `{"group":"room1","payload":{"type":"say","content":"hi"}}`, "k1")
	call("POST", "/api/push/uids/online", `{"uids":["42"]}`, "k1")
	call("POST", "/api/push/bind", `{"client_id":"gw1.AAAAAAAAAAAAAAAAAAAAAA","uid":"42"}`, "k1")
	call("GET", "/api/push/clients/count", "", "wrong")
	// Output:
	// 200 {"ok":true}
	// 200 {"online":{"42":false}}
	// 404 {"error":"client_not_found","message":"session: bind uid: no such client: \"gw1.AAAAAAAAAAAAAAAAAAAAAA\""}
	// 401 {"error":"unauthorized","message":"missing or wrong API key (header Authorization: Bearer KEY)"}
}
