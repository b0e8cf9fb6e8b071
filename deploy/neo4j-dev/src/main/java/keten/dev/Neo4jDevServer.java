package keten.dev;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.config.Setting;
import org.neo4j.internal.kernel.api.connectioninfo.ClientConnectionInfo;
import org.neo4j.internal.kernel.api.security.AuthenticationResult;
import org.neo4j.internal.kernel.api.security.LoginContext;
import org.neo4j.kernel.api.security.AuthManager;
import org.neo4j.kernel.api.security.AuthToken;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.kernel.internal.Version;

/**
 * A Neo4j Community server for development, tests and CI: the embedded engine with
 * the Bolt connector on 127.0.0.1, authentication on, no HTTP, until the process is
 * killed (SIGTERM shuts the DBMS down cleanly).
 *
 * <pre>
 * NEO4J_DEV_PASSWORD=... java -Xmx1g -jar neo4j-dev-server.jar HOME PORT [key=value ...]
 * </pre>
 *
 * HOME holds data/ and logs/; PORT 0 picks a free port. The password of the {@code neo4j}
 * user is set to NEO4J_DEV_PASSWORD on every start (read from the environment, not the
 * command line, so that it does not show in {@code ps}). Each key=value is a Neo4j setting
 * (neo4j.conf syntax) applied last, e.g. {@code server.memory.pagecache.size=1g}.
 * With NEO4J_DEV_EXIT_WHEN_READY=1 it stops once ready (the training run of neo4j-dev.sh).
 */
public final class Neo4jDevServer {

    private Neo4jDevServer() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: NEO4J_DEV_PASSWORD=... java -jar neo4j-dev-server.jar HOME PORT [key=value ...]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath().normalize();
        int port = Integer.parseInt(args[1]);
        String password = System.getenv("NEO4J_DEV_PASSWORD");
        if (password == null || password.isEmpty()) {
            System.err.println("NEO4J_DEV_PASSWORD is not set");
            System.exit(2);
        }
        Map<String, String> raw = new LinkedHashMap<>();
        // Modest defaults for a development machine; every one can be overridden.
        raw.put(GraphDatabaseSettings.pagecache_memory.name(), "512m");
        raw.put(GraphDatabaseSettings.memory_transaction_global_max_size.name(), "512m");
        raw.put(GraphDatabaseSettings.memory_transaction_max_size.name(), "256m");
        raw.put(GraphDatabaseSettings.keep_logical_logs.name(), "100M size");
        // Bolt's Netty loops wait 5 s of quiet each on shutdown by default; a dev server
        // should stop promptly (the databases are checkpointed before this point).
        raw.put(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period.name(), "1");
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("not a key=value setting: " + args[i]);
                System.exit(2);
            }
            raw.put(args[i].substring(0, eq).trim(), args[i].substring(eq + 1).trim());
        }

        Files.createDirectories(home);
        long started = System.nanoTime();
        DatabaseManagementService dbms;
        try {
            dbms = new DatabaseManagementServiceBuilder(home)
                    .setConfig(GraphDatabaseSettings.auth_enabled, true)
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(HttpConnector.enabled, false)
                    .setConfig(HttpsConnector.enabled, false)
                    .setConfig(typed(raw))
                    .build();
        } catch (RuntimeException e) {
            System.err.println("neo4j-dev: could not start Neo4j: " + e);
            e.printStackTrace();
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("neo4j-dev: shutting down");
            try {
                dbms.shutdown();
            } finally {
                System.out.println("neo4j-dev: stopped");
                stopped.countDown();
            }
        }, "neo4j-dev-shutdown"));

        try {
            setPassword(dbms, password);
        } catch (RuntimeException e) {
            System.err.println("neo4j-dev: could not set the password of the neo4j user: " + e.getMessage());
            System.exit(1); // the shutdown hook stops the DBMS
        }
        // neo4j-dev.sh waits for this line: from here on the password is the given one.
        System.out.printf("neo4j-dev: ready, Neo4j %s, Bolt on 127.0.0.1:%d, home %s, started in %d ms%n",
                Version.getNeo4jVersion(),
                port, home, (System.nanoTime() - started) / 1_000_000);
        if ("1".equals(System.getenv("NEO4J_DEV_EXIT_WHEN_READY"))) {
            // Training run for the class-data-sharing archive (see neo4j-dev.sh): load the
            // Cypher classes a first query needs too, then stop as SIGTERM would.
            dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
            System.exit(0);
        }
        stopped.await();
    }

    /** Settings in neo4j.conf syntax, parsed and checked by Neo4j itself (unknown keys fail). */
    private static Map<Setting<?>, Object> typed(Map<String, String> raw) {
        Config parsed = Config.newBuilder().setRaw(raw).build();
        Map<Setting<?>, Object> typed = new HashMap<>();
        parsed.getDeclaredSettings().forEach((name, setting) -> {
            if (raw.containsKey(name)) {
                typed.put(setting, parsed.get(setting));
            }
        });
        return typed;
    }

    /**
     * The neo4j user gets the given password, with no forced change at first login.
     * Neo4j keeps the password in the system database, so after the first start this is
     * only a login check: the ALTER USER (seconds of Cypher warm-up) runs only when the
     * data folder is new or the password changed.
     */
    private static void setPassword(DatabaseManagementService dbms, String password) {
        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        if (loginSucceeds(system, password)) {
            return;
        }
        system.executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                Map.of("password", password));
        System.out.println("neo4j-dev: password of the neo4j user set");
    }

    private static boolean loginSucceeds(GraphDatabaseService system, String password) {
        try {
            AuthManager auth = ((GraphDatabaseAPI) system).getDependencyResolver().resolveDependency(AuthManager.class);
            LoginContext login = auth.login(
                    AuthToken.newBasicAuthToken("neo4j", password), ClientConnectionInfo.EMBEDDED_CONNECTION);
            return login.subject().getAuthenticationResult() == AuthenticationResult.SUCCESS;
        } catch (Exception | LinkageError e) {
            return false; // internal API moved: fall back to ALTER USER
        }
    }
}
