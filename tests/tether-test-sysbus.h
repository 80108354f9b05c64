/*
 * A private system bus for the security tests: a dbus-daemon whose
 * configuration admits every user, follows the default policy of Debian's
 * system bus and includes tether's shipped bus policy file; polkit played by
 * python3-dbusmock's polkitd template; tetherd on it as root or as the
 * "tether" user; and clients run as users made for the tests.
 *
 * Switching users needs root: tether_test_sysbus_can_run () says whether
 * this process can. The files it needs come from the environment that
 * tests/meson.build sets: TETHER_BUS_POLICY, TETHER_SYSUSERS.
 */
#pragma once

#include <gio/gio.h>

#include "tether-test-env.h"

G_BEGIN_DECLS

/* the users made for the tests: one outside tether-publish, one in it */
#define TETHER_TEST_USER_OUTSIDER  "tethersec-out"
#define TETHER_TEST_USER_PUBLISHER "tethersec-pub"
/* the daemon's user and the publishers' group, from the shipped sysusers.d file */
#define TETHER_TEST_DAEMON_USER   "tether"
#define TETHER_TEST_PUBLISH_GROUP "tether-publish"

typedef struct _TetherTestSysbus TetherTestSysbus;

typedef enum {
	TETHER_TEST_BUS_SYSTEM,  /* the system bus's default policy and tether's policy file */
	TETHER_TEST_BUS_SESSION, /* everything allowed, every user admitted */
} TetherTestBusKind;

/* FALSE when this process cannot switch users; @why_not says why */
gboolean tether_test_sysbus_can_run (char **why_not);

/* makes the daemon's user and group (systemd-sysusers, the shipped file) and the test users */
void tether_test_sysbus_ensure_users (void);

TetherTestSysbus *tether_test_sysbus_new (TetherTestEnv *env, TetherTestBusKind kind);
void tether_test_sysbus_free (TetherTestSysbus *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherTestSysbus, tether_test_sysbus_free)

const char *tether_test_sysbus_get_address (TetherTestSysbus *bus);
/* a world-readable directory for the bus, the daemon's files and the clients */
const char *tether_test_sysbus_get_dir (TetherTestSysbus *bus);
/* this process's connection (root) */
GDBusConnection *tether_test_sysbus_get_connection (TetherTestSysbus *bus);

/* polkit: the mock, and the actions it allows (none at first) */
void tether_test_sysbus_start_polkit (TetherTestSysbus *bus);
void tether_test_sysbus_polkit_allow (TetherTestSysbus *bus, const char *const *actions);

/*
 * tetherd on this bus: on a system bus without --session, else with it;
 * as @user (NULL: this process's user), with --state-dir @state_dir and
 * --config @config_file, and --verbose.
 */
void tether_test_sysbus_start_daemon (TetherTestSysbus *bus, const char *user,
                                      const char *state_dir, const char *config_file);
void tether_test_sysbus_stop_daemon (TetherTestSysbus *bus);
gboolean tether_test_sysbus_daemon_is_running (TetherTestSysbus *bus);
const char *tether_test_sysbus_get_daemon_log (TetherTestSysbus *bus);
TetherDBusTether1 *tether_test_sysbus_get_manager (TetherTestSysbus *bus);

/* runs a program as @user (NULL: this process's user) with the bus in its environment */
TetherTestCtlResult *tether_test_sysbus_run (TetherTestSysbus *bus, const char *user,
                                             const char *const *argv);
/* the same, started: its standard output is read line by line */
typedef struct _TetherTestSysbusProcess TetherTestSysbusProcess;
TetherTestSysbusProcess *tether_test_sysbus_spawn (TetherTestSysbus *bus, const char *user,
                                                   const char *const *argv);
/* the next line, or NULL when none came within @timeout_ms */
char *tether_test_sysbus_process_read_line (TetherTestSysbusProcess *process, guint timeout_ms);
void tether_test_sysbus_process_free (TetherTestSysbusProcess *process);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TetherTestSysbusProcess, tether_test_sysbus_process_free)

/*
 * gdbus call as @user: @args are the method's arguments in GVariant text.
 * Returns NULL on success, else the D-Bus error name (and its message in
 * @message).
 */
char *tether_test_sysbus_call (TetherTestSysbus *bus, const char *user, const char *object_path,
                               const char *method, const char *const *args, char **message);

G_END_DECLS
