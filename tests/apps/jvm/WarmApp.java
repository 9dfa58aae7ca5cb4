import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small JDK-only HTTP service with a genuine cold start, for warmgate's honesty benchmark.
 *
 * <p>Every API request does real work (builds and parses a JSON document, runs regular
 * expressions, formats strings, sorts, computes statistics), so class loading, the interpreter
 * and the C1/C2 JIT tiers show in its latency. Usage: {@code java WarmApp [PORT]} (0 or none
 * picks a free port). The first line on stdout is {@code listening on http://127.0.0.1:PORT}.
 *
 * <p>Endpoints: {@code GET /health} (200 at once, no work: what a naive probe sees),
 * {@code GET /api/report?items=N} and {@code GET /api/search?q=WORD}.
 */
public final class WarmApp {
    private static final AtomicLong REQUESTS = new AtomicLong();

    private WarmApp() {}

    public static void main(String[] args) throws IOException {
        int port = 0;
        if (args.length > 0) {
            try {
                port = Integer.parseInt(args[0]);
            } catch (NumberFormatException e) {
                System.err.println("usage: WarmApp [PORT]");
                System.exit(64);
            }
        }
        Search search = new Search(Corpus.build(2_000, 7L));
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 256);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        server.setExecutor(pool);
        server.createContext("/health", ex -> send(ex, 200, "text/plain", "ok\n"));
        server.createContext("/api/report", ex -> handle(ex, q -> Report.render(
                intParam(q, "items", 150), REQUESTS.incrementAndGet())));
        server.createContext("/api/search", ex -> handle(ex, q -> search.run(
                q.getOrDefault("q", "stream"), REQUESTS.incrementAndGet())));
        server.createContext("/", ex -> send(ex, 404, "text/plain", "not found\n"));
        server.start();
        PrintStream out = System.out;
        out.println("listening on http://127.0.0.1:" + server.getAddress().getPort());
        out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop(0);
            pool.shutdownNow();
        }));
    }

    /** A request handler body: query parameters in, JSON text out. */
    private interface Work {
        String apply(Map<String, String> query) throws Exception;
    }

    private static void handle(HttpExchange ex, Work work) throws IOException {
        try {
            if (!"GET".equals(ex.getRequestMethod())) {
                send(ex, 405, "text/plain", "method not allowed\n");
                return;
            }
            String body = work.apply(parseQuery(ex.getRequestURI().getRawQuery()));
            send(ex, 200, "application/json", body);
        } catch (Exception e) {
            send(ex, 500, "text/plain", "error: " + e.getClass().getSimpleName() + "\n");
        }
    }

    private static void send(HttpExchange ex, int status, String type, String body)
            throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(bytes);
        }
    }

    private static Map<String, String> parseQuery(String raw) {
        Map<String, String> out = new HashMap<>();
        if (raw == null || raw.isEmpty()) {
            return out;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String k = eq < 0 ? pair : pair.substring(0, eq);
            String v = eq < 0 ? "" : pair.substring(eq + 1);
            out.put(URLDecoder.decode(k, StandardCharsets.UTF_8),
                    URLDecoder.decode(v, StandardCharsets.UTF_8));
        }
        return out;
    }

    private static int intParam(Map<String, String> q, String name, int dflt) {
        try {
            int v = Integer.parseInt(q.getOrDefault(name, Integer.toString(dflt)));
            return Math.max(1, Math.min(v, 2_000));
        } catch (NumberFormatException e) {
            return dflt;
        }
    }
}
