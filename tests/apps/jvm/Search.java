import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code /api/search}: regex search over a corpus, tf-idf scoring, top hits, formatting. */
final class Search {
    private static final Pattern WORD = Pattern.compile("[a-z]+");
    private final List<String> corpus;
    private final Map<String, Integer> documentFrequency = new HashMap<>();

    /** Indexes document frequencies of {@code corpus} once. */
    Search(List<String> corpus) {
        this.corpus = corpus;
        for (String line : corpus) {
            Matcher m = WORD.matcher(line);
            Map<String, Boolean> seen = new HashMap<>();
            while (m.find()) {
                if (seen.put(m.group(), Boolean.TRUE) == null) {
                    documentFrequency.merge(m.group(), 1, Integer::sum);
                }
            }
        }
    }

    /** One scored line. */
    private static final class Hit {
        final int line;
        final double score;
        final String snippet;

        Hit(int line, double score, String snippet) {
            this.line = line;
            this.score = score;
            this.snippet = snippet;
        }
    }

    /** Searches for words starting with {@code query} in a slice chosen by {@code seed}. */
    String run(String query, long seed) {
        String q = query.toLowerCase(Locale.ROOT).replaceAll("[^a-z]", "");
        if (q.isEmpty()) {
            q = "stream";
        }
        Pattern p = Pattern.compile("\\b(" + Pattern.quote(q) + "\\w*)\\b", Pattern.CASE_INSENSITIVE);
        int n = corpus.size();
        int start = (int) Math.floorMod(seed * 7919L, (long) n);
        int span = n / 2;
        List<Hit> hits = new ArrayList<>();
        for (int k = 0; k < span; k++) {
            int idx = (start + k) % n;
            String line = corpus.get(idx);
            Matcher m = p.matcher(line);
            int tf = 0;
            double idf = 0;
            while (m.find()) {
                tf++;
                String w = m.group(1).toLowerCase(Locale.ROOT);
                idf += Math.log((double) n / (1 + documentFrequency.getOrDefault(w, 0)));
            }
            if (tf > 0) {
                double score = (1 + Math.log(tf)) * idf / Math.sqrt(line.length());
                hits.add(new Hit(idx, score, line.length() > 48 ? line.substring(0, 48) : line));
            }
        }
        hits.sort((a, b) -> a.score != b.score ? Double.compare(b.score, a.score)
                : Integer.compare(a.line, b.line));
        StringBuilder out = new StringBuilder(2048);
        out.append("{\"q\":");
        Json.quote(out, q);
        out.append(",\"matches\":").append(hits.size()).append(",\"top\":[");
        for (int i = 0; i < Math.min(20, hits.size()); i++) {
            Hit h = hits.get(i);
            if (i > 0) {
                out.append(',');
            }
            Json.quote(out, String.format("#%04d %7.4f %s", h.line, h.score, h.snippet));
        }
        return out.append("]}\n").toString();
    }
}
