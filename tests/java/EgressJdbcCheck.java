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
