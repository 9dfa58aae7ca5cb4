import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/** {@code /api/report}: parse a catalogue, validate it, aggregate per category, format. */
final class Report {
    private static final Pattern SKU = Pattern.compile("SKU-(\\d{4})-([A-Z]{2})");

    private Report() {}

    /** One parsed, validated product line. */
    private static final class Item {
        final String name;
        final String category;
        final double price;
        final int qty;
        final int skuNumber;
        final int tags;

        Item(Map<?, ?> m) {
            name = (String) m.get("name");
            category = (String) m.get("category");
            price = (Double) m.get("price");
            qty = ((Double) m.get("qty")).intValue();
            Matcher sku = SKU.matcher((String) m.get("sku"));
            if (!sku.matches()) {
                throw new IllegalArgumentException("bad sku " + m.get("sku"));
            }
            skuNumber = Integer.parseInt(sku.group(1));
            tags = ((List<?>) m.get("tags")).size();
        }

        double revenue() {
            return price * qty;
        }
    }

    /** The report over {@code items} products generated from {@code seed}, as JSON text. */
    static String render(int items, long seed) {
        List<?> raw = (List<?>) Json.parse(Corpus.catalogJson(items, seed));
        List<Item> parsed = new ArrayList<>(raw.size());
        for (Object o : raw) {
            parsed.add(new Item((Map<?, ?>) o));
        }
        Map<String, List<Item>> byCategory = parsed.stream()
                .collect(Collectors.groupingBy(i -> i.category, TreeMap::new, Collectors.toList()));
        List<String> lines = new ArrayList<>();
        List<double[]> totals = new ArrayList<>();
        for (Map.Entry<String, List<Item>> e : byCategory.entrySet()) {
            List<Item> group = e.getValue();
            double[] prices = group.stream().mapToDouble(i -> i.price).sorted().toArray();
            double mean = 0;
            for (double p : prices) {
                mean += p;
            }
            mean /= prices.length;
            double var = 0;
            for (double p : prices) {
                var += (p - mean) * (p - mean);
            }
            double sd = Math.sqrt(var / Math.max(1, prices.length - 1));
            double median = prices[prices.length / 2];
            double revenue = group.stream().mapToDouble(Item::revenue).sum();
            double geo = Math.exp(group.stream().mapToDouble(i -> Math.log(1 + i.price)).average()
                    .orElse(0));
            Item top = group.stream().max(Comparator.comparingDouble(Item::revenue)
                    .thenComparing(i -> i.name)).orElseThrow();
            int skuSum = group.stream().mapToInt(i -> i.skuNumber % 97).sum();
            lines.add(String.format("%-8s n=%3d mean=%9.2f sd=%9.2f median=%9.2f geo=%8.3f "
                    + "revenue=%12.2f top=%s tags=%d sku=%d", e.getKey(), group.size(), mean, sd,
                    median, geo, revenue, top.name.toUpperCase(), group.stream()
                    .mapToInt(i -> i.tags).sum(), skuSum));
            totals.add(new double[] {revenue, group.size()});
        }
        lines.sort(Comparator.comparing((String s) -> s.length()).thenComparing(s -> s));
        double all = totals.stream().mapToDouble(t -> t[0]).sum();
        StringBuilder out = new StringBuilder(lines.size() * 160);
        out.append("{\"seed\":").append(seed).append(",\"items\":").append(parsed.size());
        out.append(",\"revenue\":\"").append(String.format("%.2f", all)).append("\",\"lines\":[");
        for (int i = 0; i < lines.size(); i++) {
            if (i > 0) {
                out.append(',');
            }
            Json.quote(out, lines.get(i));
        }
        return out.append("]}\n").toString();
    }
}
