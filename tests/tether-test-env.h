/*
 * A harness for tether's integration tests: each test case runs in its own
 * process with its own temporary directory, test PKI, mosquitto brokers with
 * mutual TLS, a private D-Bus session bus, the real tetherd and tetherctl,
 * and an MQTT observer that sees what reaches the broker.
 *
 * Paths of the programs under test come from the environment that
 * tests/meson.build sets: TETHERD, TETHERCTL, TETHER_PLUGIN_PATH,
 * GSETTINGS_SCHEMA_DIR. TETHER_TEST_KEEP=1 keeps the directory of a failed
 * test case and prints its path.
 */
#pragma once

#include <gio/gio.h>

#include "tether-dbus.h"

G_BEGIN_DECLS

/* How long a wait may take before the test fails. */
#define TETHER_TEST_TIMEOUT_MS 15000

/* How long one test case may run before it is killed and counted failed. */
#define TETHER_TEST_CASE_TIMEOUT_S 90

/* ---- test cases ---- */

typedef void (*TetherTestFunc) (void);

void tether_test_init (int *argc, char ***argv);
void tether_test_add (const char *path, TetherTestFunc func);

/* ---- the environment of one test case ---- */

typedef struct _TetherTestEnv TetherTestEnv;
typedef struct _TetherTestBroker TetherTestBroker;
typedef struct _TetherTestObserver TetherTestObserver;
typedef struct _TetherTestProcess TetherTestProcess;

TetherTestEnv *tether_test_env_new (void);
void tether_test_env_free (TetherTestEnv *env);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherTestEnv, tether_test_env_free)
const char *tether_test_env_get_dir (TetherTestEnv *env);
char *tether_test_env_path (TetherTestEnv *env, const char *name);
/* removes a file or a directory with all it holds, without following links */
void tether_test_remove_tree (const char *path);
char *tether_test_env_write_file (TetherTestEnv *env, const char *name, const char *contents,
                                  gssize length);

guint16 tether_test_pick_port (void);
gboolean tether_test_wait_for_port (guint16 port, guint timeout_ms, GSubprocess *owner);

/* ---- test PKI ---- */

typedef struct {
	char *server_ca_cert; /* CN "Tether Test Server CA" */
	char *server_ca_key;
	char *server_cert; /* DNS localhost, IP 127.0.0.1, issued by the server CA */
	char *server_key;
	char *device_ca_cert; /* CN "Tether Test Device CA" */
	char *device_ca_key;
	char *observer_cert; /* CN "observer", issued by the device CA */
	char *observer_key;
} TetherTestPki;

#define TETHER_TEST_SERVER_CA_CN "Tether Test Server CA"
#define TETHER_TEST_DEVICE_CA_CN "Tether Test Device CA"
#define TETHER_TEST_OBSERVER_CN  "observer"

const TetherTestPki *tether_test_env_get_pki (TetherTestEnv *env);
char *tether_test_env_pki_file (TetherTestEnv *env, const char *file);
void tether_test_env_make_ca (TetherTestEnv *env, const char *name, const char *cn);
void tether_test_env_make_server_cert (TetherTestEnv *env, const char *name, const char *dns,
                                       const char *ip);
void tether_test_env_make_client_cert (TetherTestEnv *env, const char *name, const char *cn);
char *tether_test_env_make_csr (TetherTestEnv *env, const char *name, const char *cn);
void tether_test_env_sign_csr (TetherTestEnv *env, const char *csr_path, const char *cert_path);

/* ---- mosquitto ---- */

typedef struct {
	const char *name;        /* file prefix in the test directory; default "mosquitto" */
	const char *acl;         /* the ACL file's text; required */
	const char *server_cert; /* default: the PKI's localhost certificate */
	const char *server_key;
	const char *extra_client_ca; /* a CA accepted besides the device CA, or NULL */
	const char *extra_config;    /* more lines for mosquitto.conf, or NULL */
} TetherTestBrokerOptions;

char *tether_test_acl_thingsboard (const char *device_user);

TetherTestBroker *tether_test_env_start_broker (TetherTestEnv *env,
                                                const TetherTestBrokerOptions *options);
guint16 tether_test_broker_get_port (TetherTestBroker *broker);
const char *tether_test_broker_get_endpoint (TetherTestBroker *broker);
const char *tether_test_broker_get_log_path (TetherTestBroker *broker);
void tether_test_broker_start (TetherTestBroker *broker);
void tether_test_broker_stop (TetherTestBroker *broker);
void tether_test_broker_kill (TetherTestBroker *broker);
void tether_test_broker_restart (TetherTestBroker *broker);

/* ---- the MQTT observer (Paho, synchronous client) ---- */

TetherTestObserver *tether_test_observer_new (TetherTestBroker *broker, const char *cert,
                                              const char *key, GError **error);
TetherTestObserver *tether_test_env_observe (TetherTestEnv *env, TetherTestBroker *broker);
void tether_test_observer_free (TetherTestObserver *observer);
gboolean tether_test_observer_subscribe (TetherTestObserver *observer, const char *filter,
                                         GError **error);
GBytes *tether_test_observer_wait (TetherTestObserver *observer, const char *filter,
                                   guint timeout_ms, char **out_topic);
gboolean tether_test_observer_publish (TetherTestObserver *observer, const char *topic,
                                       GBytes *payload, GError **error);
gboolean tether_test_topic_matches (const char *filter, const char *topic);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherTestObserver, tether_test_observer_free)

/* ---- the D-Bus session bus and tetherd ---- */

GDBusConnection *tether_test_env_get_bus (TetherTestEnv *env);
void tether_test_env_start_daemon (TetherTestEnv *env);
void tether_test_env_stop_daemon (TetherTestEnv *env);
void tether_test_env_kill_daemon (TetherTestEnv *env);
void tether_test_env_restart_daemon (TetherTestEnv *env);
const char *tether_test_env_get_state_dir (TetherTestEnv *env);
const char *tether_test_env_get_daemon_log (TetherTestEnv *env);

TetherDBusTether1 *tether_test_env_get_manager (TetherTestEnv *env);
TetherDBusConnection1 *tether_test_env_get_connection (TetherTestEnv *env, const char *id);
gboolean tether_test_wait_property (GDBusProxy *proxy, const char *name, GVariant *value,
                                    guint timeout_ms);
void tether_test_env_wait_state (TetherTestEnv *env, const char *id, const char *state,
                                 guint timeout_ms);

typedef gboolean (*TetherTestCondition) (gpointer user_data);
gboolean tether_test_wait_until (TetherTestCondition condition, gpointer user_data,
                                 guint timeout_ms);
void tether_test_iterate (guint ms);
/* how much slower than usual everything runs: TETHER_TEST_SLOWDOWN (1 when unset) */
guint tether_test_slowdown (void);

/* ---- tetherctl ---- */

typedef struct {
	int status; /* the exit status, or -1 when it did not exit normally */
	char *out;
	char *err;
} TetherTestCtlResult;

void tether_test_ctl_result_free (TetherTestCtlResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherTestCtlResult, tether_test_ctl_result_free)

TetherTestCtlResult *tether_test_env_ctlv (TetherTestEnv *env, GBytes *input,
                                           const char *const *args);
TetherTestCtlResult *tether_test_env_ctl (TetherTestEnv *env, GBytes *input, const char *first_arg,
                                          ...) G_GNUC_NULL_TERMINATED;
/* tetherctl with its standard input read from the file @stdin_path, as "< FILE" would */
TetherTestCtlResult *tether_test_env_ctl_stdin_file (TetherTestEnv *env, const char *stdin_path,
                                                     const char *first_arg,
                                                     ...) G_GNUC_NULL_TERMINATED;
void tether_test_env_ctl_ok (TetherTestEnv *env, const char *first_arg, ...) G_GNUC_NULL_TERMINATED;

/*
 * tetherd --session with these options, run to its end: for a start it must
 * refuse (one still running after 30 s fails the test). The result holds its
 * exit status and what it printed.
 */
TetherTestCtlResult *tether_test_env_run_daemon (TetherTestEnv *env, const char *first_arg,
                                                 ...) G_GNUC_NULL_TERMINATED;

TetherTestProcess *tether_test_env_spawn_ctl (TetherTestEnv *env, const char *first_arg,
                                              ...) G_GNUC_NULL_TERMINATED;
char *tether_test_process_read_line (TetherTestProcess *process, guint timeout_ms);
void tether_test_process_free (TetherTestProcess *process);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherTestProcess, tether_test_process_free)

G_END_DECLS
