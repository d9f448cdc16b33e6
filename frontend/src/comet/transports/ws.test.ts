import { eq, test } from "../../test/harness";
import { wsURL } from "./ws";

test("ws: the socket URL is on the page's host, wss under https", () => {
  eq(wsURL("/comet/s_1/ws?last=7", "http://example.com:8080/?transport=ws"), "ws://example.com:8080/comet/s_1/ws?last=7");
  eq(wsURL("/comet/s_1/ws?last=0", "https://example.com/game"), "wss://example.com/comet/s_1/ws?last=0");
  eq(wsURL("comet/s%2F1/ws?last=1", "https://example.com/a/b"), "wss://example.com/a/comet/s%2F1/ws?last=1");
});
