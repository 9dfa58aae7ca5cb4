import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Deterministic pseudo-text: product catalogues (as JSON) and sentences to search. */
final class Corpus {
    static final String[] WORDS = {
        "stream", "buffer", "latency", "thread", "socket", "kernel", "cache", "vector",
        "parser", "window", "signal", "driver", "packet", "router", "sample", "metric",
        "tensor", "matrix", "schema", "record", "ledger", "bridge", "filter", "sensor",
        "engine", "quorum", "replica", "shard", "cursor", "lambda", "closure", "module",
        "harbor", "canyon", "meadow", "glacier", "summit", "forest", "river", "desert",
    };
    static final String[] CATEGORIES = {
        "books", "garden", "kitchen", "toys", "tools", "audio", "sports", "office",
    };

    private Corpus() {}

    /** {@code n} sentences of 8 to 20 words, the same for the same seed. */
    static List<String> build(int n, long seed) {
        Random rng = new Random(seed);
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int len = 8 + rng.nextInt(13);
            StringBuilder sb = new StringBuilder();
            for (int w = 0; w < len; w++) {
                if (w > 0) {
                    sb.append(rng.nextInt(9) == 0 ? ", " : " ");
                }
                String word = WORDS[rng.nextInt(WORDS.length)];
                sb.append(rng.nextInt(5) == 0 ? word + "s" : word);
            }
            out.add(sb.append('.').toString());
        }
        return out;
    }

    /** A JSON array of {@code items} products, as a remote service would send it. */
    static String catalogJson(int items, long seed) {
        Random rng = new Random(seed);
        StringBuilder sb = new StringBuilder(items * 160);
        sb.append('[');
        for (int i = 0; i < items; i++) {
            if (i > 0) {
                sb.append(',');
            }
            String name = WORDS[rng.nextInt(WORDS.length)] + " " + WORDS[rng.nextInt(WORDS.length)];
            sb.append("{\"id\":").append(seed * 10_000 + i);
            sb.append(",\"name\":");
            Json.quote(sb, name);
            sb.append(",\"category\":\"").append(CATEGORIES[rng.nextInt(CATEGORIES.length)]);
            sb.append("\",\"price\":").append(Math.round(rng.nextDouble() * 50_000) / 100.0);
            sb.append(",\"qty\":").append(1 + rng.nextInt(40));
            sb.append(",\"sku\":\"SKU-").append(1000 + rng.nextInt(9000)).append('-');
            sb.append((char) ('A' + rng.nextInt(26))).append((char) ('A' + rng.nextInt(26)));
            sb.append("\",\"tags\":[");
            int tags = 1 + rng.nextInt(4);
            for (int t = 0; t < tags; t++) {
                if (t > 0) {
                    sb.append(',');
                }
                Json.quote(sb, WORDS[rng.nextInt(WORDS.length)]);
            }
            sb.append("],\"note\":");
            Json.quote(sb, "ship\tby \"" + WORDS[rng.nextInt(WORDS.length)] + "\" line " + i);
            sb.append('}');
        }
        return sb.append(']').toString();
    }
}
