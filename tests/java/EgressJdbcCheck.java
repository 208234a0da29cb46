import java.sql.*;
import java.util.*;

/** Drives pgjdbc against a running egress: metadata, prepared statements, booleans, streaming. */
public class EgressJdbcCheck {
    public static void main(String[] args) throws Exception {
        String url = args[0];
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection conn = DriverManager.getConnection(url, props)) {
            DatabaseMetaData md = conn.getMetaData();
            System.out.println("product=" + md.getDatabaseProductName() + " " + md.getDatabaseProductVersion());
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[]{"TABLE", "VIEW"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            Collections.sort(tables);
            System.out.println("tables=" + String.join(",", tables));
            List<String> cols = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "public", "companies", "%")) {
                while (rs.next()) cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
            }
            System.out.println("columns=" + String.join(",", cols));
            try (ResultSet rs = md.getSchemas()) {
                List<String> schemas = new ArrayList<>();
                while (rs.next()) schemas.add(rs.getString(1));
                System.out.println("schemas=" + String.join(",", schemas));
            }
            try (ResultSet rs = md.getPrimaryKeys(null, "public", "companies")) {
                int n = 0; while (rs.next()) n++;
                System.out.println("primary_keys=" + n);
            }
            try (ResultSet rs = md.getImportedKeys(null, "public", "companies")) {
                int n = 0; while (rs.next()) n++;
                System.out.println("imported_keys=" + n);
            }
            try (ResultSet rs = md.getTypeInfo()) {
                int n = 0; while (rs.next()) n++;
                System.out.println("type_info=" + (n > 0));
            }
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT company_id, name, employee_count > ? AS big FROM companies WHERE industry = ? ORDER BY company_id")) {
                ps.setInt(1, 100);
                ps.setString(2, "SaaS");
                int rows = 0, big = 0;
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) { rows++; if (rs.getBoolean("big")) big++; }
                }
                System.out.println("prepared_rows=" + rows + " big=" + big);
            }
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT array_agg(company_id ORDER BY company_id) AS ids FROM companies WHERE company_id = ANY(?)")) {
                ps.setArray(1, conn.createArrayOf("bigint", new Long[] {3L, 1L, 2L}));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    Object[] ids = (Object[]) rs.getArray("ids").getArray();
                    StringBuilder sb = new StringBuilder();
                    for (Object id : ids) sb.append(sb.length() > 0 ? "," : "").append(id);
                    System.out.println("array_ids=" + sb);
                }
            }
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT founded_on, created_at FROM companies WHERE founded_on > ? AND created_at > ? ORDER BY company_id LIMIT 1")) {
                ps.setDate(1, java.sql.Date.valueOf("1990-01-01"));
                ps.setTimestamp(2, java.sql.Timestamp.valueOf("2015-01-01 00:00:00"));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    System.out.println("dated=" + (rs.getDate(1).toLocalDate().getYear() > 1990));
                }
            }
            conn.setAutoCommit(false);  // setFetchSize streams only inside a transaction
            try (Statement st = conn.createStatement()) {
                st.setFetchSize(100);
                int rows = 0;
                try (ResultSet rs = st.executeQuery("SELECT company_id FROM companies")) {
                    while (rs.next()) rows++;
                }
                System.out.println("streamed_rows=" + rows);
            }
            conn.commit();
            try (Statement st = conn.createStatement()) {
                st.executeQuery("SELECT annual_revenue FROM companies");
                System.out.println("hidden=visible");
            } catch (SQLException e) {
                System.out.println("hidden_sqlstate=" + e.getSQLState());
            }
        }
    }
}
