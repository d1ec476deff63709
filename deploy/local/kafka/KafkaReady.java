// Readiness probe for the local broker when the project's .venv (and so aiokafka) is not installed yet.
// Run as a single-file program on the broker's own classpath:
//   java -cp '.data/kafka/libs/*' deploy/local/kafka/KafkaReady.java 127.0.0.1:9092
// Exits 0 when a metadata request (describeCluster + listTopics) succeeds and names at least one broker.
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class KafkaReady {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        try (Admin admin = Admin.create(props)) {
            int brokers = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size();
            admin.listTopics().names().get(5, TimeUnit.SECONDS);
            if (brokers == 0) {
                System.err.println("metadata names no broker yet");
                System.exit(1);
            }
        } catch (Exception e) {
            System.err.println("metadata request failed: " + e);
            System.exit(1);
        }
    }
}
