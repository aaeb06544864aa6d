package io.lethe.mongoserver;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Runs an in-memory MongoDB wire-protocol server on 127.0.0.1 for tests.
 *
 * <p>Usage: {@code java -jar mongo-server.jar [PORT] [READY_FILE]}. PORT 0 (the default) takes a
 * free port. Once the socket is bound the chosen port is printed and, when READY_FILE is given,
 * "PORT PID" is written there atomically, so a harness waits for the file instead of guessing
 * the port, and knows which process to stop even if a wrapper forked on the way.
 */
public final class Main {

    /**
     * MongoDB 4.4 (wire version 9). mongo-java-server's own ServerVersion enum stops at wire 8,
     * which the Go driver v2 refuses; the server implements what the driver uses of 4.4.
     */
    static final MongoVersion MONGO_4_4 = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    private Main() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        // The simple logger reads its level at first use; per-connection INFO lines would drown
        // the log during a test run, so default to WARN unless the caller chose otherwise.
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
        Path readyFile = args.length > 1 ? Path.of(args[1]) : null;

        MemoryBackend backend = new MemoryBackend();
        backend.version(MONGO_4_4);
        MongoServer server = new MongoServer(backend);
        // Loopback only: this server has no authentication.
        server.bind("127.0.0.1", port);
        InetSocketAddress addr = server.getLocalAddress();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            stopped.countDown();
        }, "mongo-server-shutdown"));

        if (readyFile != null) {
            // Write then rename, so a reader never sees a half-written file.
            Path tmp = readyFile.resolveSibling(readyFile.getFileName() + ".tmp");
            String ready = addr.getPort() + " " + ProcessHandle.current().pid() + "\n";
            Files.writeString(tmp, ready, StandardCharsets.US_ASCII);
            Files.move(tmp, readyFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
        System.out.println("mongo-java-server " + MONGO_4_4.toVersionString()
                + " (wire " + MONGO_4_4.getWireVersion() + ") listening on 127.0.0.1:" + addr.getPort());
        System.out.flush();
        stopped.await();
    }
}
