/*
 * Copyright 2026 The tether authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tether-common.h"
#include "tether-error.h"
#include "tether-outbox.h"

/* a segment is started anew past this many bytes */
#define TETHER_OUTBOX_SEGMENT_SIZE (1024 * 1024)
/* the longest record written or read back; a longer length field is damage */
#define TETHER_OUTBOX_MAX_RECORD (64 * 1024 * 1024)
/* how long a drained outbox waits before its last segment goes */
#define TETHER_OUTBOX_RETIRE_DELAY_MS 2000
/* how long acknowledgements gather before they are written */
#define TETHER_OUTBOX_ACK_DELAY_MS 100
/* what quarantine/ and dead-letter/ keep at most; the oldest go first */
#define TETHER_OUTBOX_QUARANTINE_MAX_FILES  32
#define TETHER_OUTBOX_QUARANTINE_MAX_BYTES  (32 * 1024 * 1024)
#define TETHER_OUTBOX_DEAD_LETTER_MAX_FILES 100
#define TETHER_OUTBOX_DEAD_LETTER_MAX_BYTES (16 * 1024 * 1024)

/* file header: magic (8 bytes), format version (u32 LE), reserved (u32) */
#define HEADER_SIZE   16
#define SEGMENT_MAGIC "TETHERSG"
#define ACK_MAGIC     "TETHERAK"
/* record frame: body length (u32 LE), CRC-32 of the body (u32 LE), body */
#define FRAME_SIZE  8
#define RECORD_TYPE "(txsa{sv}ay)"

#define STATE_FILE        "outbox.state"
#define STATE_GROUP       "outbox"
#define QUARANTINE_DIR    "quarantine"
#define DEAD_LETTER_DIR   "dead-letter"
#define SEGMENT_PREFIX    "segment-"
#define SEGMENT_ID_DIGITS 20

typedef struct {
	guint64 first_id;
	gchar *log_path;
	gchar *ack_path;
	int fd; /* the active segment's, else -1 */
	guint64 size;
	guint n_records;
	guint n_done;
	GArray *acks; /* guint64 ids done and not yet written */
} Segment;

typedef struct {
	TetherMessage *message;
	Segment *segment;
	gint64 sent_at;
} Entry;

typedef struct {
	GTask *task;
	GPtrArray *messages;
} Waiter;

typedef struct {
	gchar *path;
	GBytes *contents;
} FileWrite;

/* one write to disk: made on the main thread, done on a worker, applied on the main thread */
typedef struct {
	TetherOutbox *outbox; /* not a reference: flush_done() holds one */
	gchar *dir;
	Segment *create;       /* a segment to make first, or NULL */
	gchar *state_contents; /* outbox.state, written with a new segment */
	Segment *target;       /* where the records go */
	guint64 offset;
	GBytes *records;    /* or NULL */
	GPtrArray *waiters; /* of Waiter */
	guint64 n_messages;
	guint64 n_bytes;
	GPtrArray *acks;         /* FileWrite: ids to append */
	GPtrArray *dead_letters; /* FileWrite */
	GPtrArray *deletions;    /* paths, each segment's .ack before its .log */
	GError *error;           /* about the records */
	gboolean created;
	gboolean target_broken; /* a failed write could not be taken back */
} FlushJob;

struct _TetherOutbox {
	GObject parent_instance;
	gchar *dir;
	gchar *name;
	GError *unusable;
	GPtrArray *damage; /* of gchar*, NULL-terminated */

	GQueue queue;       /* of Entry, oldest first */
	GList *next_unsent; /* a link of queue, or NULL when all are sent */
	GHashTable *links;  /* id -> GList link */
	guint n_sent;
	guint64 bytes;
	guint n_deadlines;
	guint64 next_id;

	guint64 max_messages;
	guint64 max_bytes;
	TetherOutboxPolicy policy;
	gsize segment_size;

	GQueue segments; /* of Segment, oldest first */
	Segment *active; /* the one records go to, or NULL */

	/* accepted, not yet on disk (in the running job too) */
	GByteArray *pending_records;
	GPtrArray *pending_waiters;
	guint64 pending_messages;
	guint64 pending_bytes;
	GPtrArray *pending_dead_letters;
	gboolean dirty; /* acknowledgements or segments to delete */
	gboolean retire_active;

	FlushJob *job;
	GMutex lock;
	GCond job_cond;
	gboolean job_finished; /* under lock */
	guint flush_id;
	guint retire_id;
	gboolean closed;
};

G_DEFINE_FINAL_TYPE (TetherOutbox, tether_outbox, G_TYPE_OBJECT)

enum { SIGNAL_DROPPED, SIGNAL_LAST };

static guint signals[SIGNAL_LAST];

static void schedule_flush (TetherOutbox *self);

/* ---- small pieces ---- */

guint32
tether_outbox_crc32 (const guint8 *data, gsize size)
{
	static guint32 table[256];
	static gsize initialized = 0;
	guint32 crc = 0xffffffff;

	if (g_once_init_enter (&initialized)) {
		for (guint32 i = 0; i < 256; i++) {
			guint32 c = i;
			for (guint k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		g_once_init_leave (&initialized, 1);
	}
	for (gsize i = 0; i < size; i++)
		crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffff;
}

static void
put_u32 (guint8 *out, guint32 value)
{
	value = GUINT32_TO_LE (value);
	memcpy (out, &value, sizeof (value));
}

static guint32
get_u32 (const guint8 *in)
{
	guint32 value;

	memcpy (&value, in, sizeof (value));
	return GUINT32_FROM_LE (value);
}

static guint64
get_u64 (const guint8 *in)
{
	guint64 value;

	memcpy (&value, in, sizeof (value));
	return GUINT64_FROM_LE (value);
}

static void
put_header (guint8 *out, const gchar *magic)
{
	memcpy (out, magic, 8);
	put_u32 (out + 8, TETHER_OUTBOX_FORMAT_VERSION);
	put_u32 (out + 12, 0);
}

static gsize
message_size (TetherMessage *message)
{
	return g_bytes_get_size (tether_message_get_payload (message));
}

static gint
error_code_for_errno (int errsv)
{
	return errsv == ENOSPC || errsv == EDQUOT ? TETHER_ERROR_NO_SPACE : TETHER_ERROR_FAILED;
}

static void
set_io_error (GError **error, const gchar *dir, const gchar *path, int errsv)
{
	if (error_code_for_errno (errsv) == TETHER_ERROR_NO_SPACE) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_NO_SPACE,
		             _("no space left for the outbox in %s: free space on that file "
		               "system; the messages accepted so far are kept"),
		                dir);
		return;
	}
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
	             _("cannot write %s: %s"), path, g_strerror (errsv));
}

static gboolean
write_all (int fd, const guint8 *data, gsize size, off_t offset, int *errsv)
{
	while (size > 0) {
		ssize_t n = pwrite (fd, data, size, offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*errsv = errno;
			return FALSE;
		}
		data += n;
		size -= (gsize) n;
		offset += n;
	}
	return TRUE;
}

static gboolean
sync_dir (const gchar *dir)
{
	int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = fsync (fd) == 0;
	g_close (fd, NULL);
	return ok;
}

static gchar *
segment_file_name (guint64 first_id, const gchar *suffix)
{
	return g_strdup_printf (SEGMENT_PREFIX "%020" G_GUINT64_FORMAT "%s", first_id, suffix);
}

/* the first id in a segment's file name, or FALSE if it is not one with @suffix */
static gboolean
parse_segment_name (const gchar *name, const gchar *suffix, guint64 *first_id)
{
	gsize prefix_len = strlen (SEGMENT_PREFIX);
	g_autofree gchar *digits = NULL;

	if (!g_str_has_prefix (name, SEGMENT_PREFIX) || !g_str_has_suffix (name, suffix) ||
	    strlen (name) != prefix_len + SEGMENT_ID_DIGITS + strlen (suffix))
		return FALSE;
	digits = g_strndup (name + prefix_len, SEGMENT_ID_DIGITS);
	return g_ascii_string_to_unsigned (digits, 10, 1, G_MAXUINT64, first_id, NULL);
}

static Segment *
segment_new (const gchar *dir, guint64 first_id)
{
	Segment *segment = g_new0 (Segment, 1);
	g_autofree gchar *log_name = segment_file_name (first_id, ".log");
	g_autofree gchar *ack_name = segment_file_name (first_id, ".ack");

	segment->first_id = first_id;
	segment->log_path = g_build_filename (dir, log_name, NULL);
	segment->ack_path = g_build_filename (dir, ack_name, NULL);
	segment->fd = -1;
	segment->acks = g_array_new (FALSE, FALSE, sizeof (guint64));
	return segment;
}

static void
segment_close (Segment *segment)
{
	if (segment->fd >= 0)
		g_close (segment->fd, NULL);
	segment->fd = -1;
}

static void
segment_free (Segment *segment)
{
	segment_close (segment);
	g_free (segment->log_path);
	g_free (segment->ack_path);
	g_array_unref (segment->acks);
	g_free (segment);
}

static void
entry_free (Entry *entry)
{
	g_object_unref (entry->message);
	g_free (entry);
}

static void
waiter_free (Waiter *waiter)
{
	g_clear_object (&waiter->task);
	g_ptr_array_unref (waiter->messages);
	g_free (waiter);
}

static void
file_write_free (FileWrite *write)
{
	g_free (write->path);
	g_bytes_unref (write->contents);
	g_free (write);
}

static void
flush_job_free (FlushJob *job)
{
	g_free (job->dir);
	g_free (job->state_contents);
	g_clear_pointer (&job->records, g_bytes_unref);
	g_clear_pointer (&job->waiters, g_ptr_array_unref);
	g_clear_pointer (&job->acks, g_ptr_array_unref);
	g_clear_pointer (&job->dead_letters, g_ptr_array_unref);
	g_clear_pointer (&job->deletions, g_ptr_array_unref);
	g_clear_error (&job->error);
	g_free (job);
}

G_GNUC_PRINTF (3, 4)
static void
outbox_log (TetherOutbox *self, GLogLevelFlags level, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *message = NULL;

	va_start (args, format);
	message = g_strdup_vprintf (format, args);
	va_end (args);
	g_log_structured (G_LOG_DOMAIN, level, "TETHER_CONNECTION", self->name, "MESSAGE",
	                  "connection %s: outbox: %s", self->name, message);
}

/* ---- records ---- */

/* appends @message's record, framed, to @out; FALSE if it is too large to keep */
static gboolean
encode_record (GByteArray *out, TetherMessage *message, GError **error)
{
	GVariant *payload = g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING,
	                                              tether_message_get_payload (message), TRUE);
	g_autoptr(GVariant) record = g_variant_ref_sink (g_variant_new (
	        "(txs@a{sv}@ay)", tether_message_get_id (message),
	        tether_message_get_expires (message), tether_message_get_kind (message),
	        tether_message_get_options (message), payload));
	g_autoptr(GBytes) body = NULL;
	gsize size;
	guint start = out->len;

	/* stored little-endian, whatever the machine */
	if (G_BYTE_ORDER == G_BIG_ENDIAN) {
		GVariant *swapped = g_variant_byteswap (record);
		g_variant_unref (record);
		record = swapped;
	}
	size = g_variant_get_size (record);
	if (size > TETHER_OUTBOX_MAX_RECORD) {
		g_set_error (
		        error, TETHER_ERROR, TETHER_ERROR_INVALID_ARGUMENT,
		        _("a message of %zu bytes is larger than the outbox keeps (%u bytes)"),
		           size, (guint) TETHER_OUTBOX_MAX_RECORD);
		return FALSE;
	}
	/* serialised into an aligned buffer: the frame leaves the body unaligned */
	body = g_variant_get_data_as_bytes (record);
	g_byte_array_set_size (out, start + FRAME_SIZE);
	g_byte_array_append (out, g_bytes_get_data (body, NULL), (guint) size);
	put_u32 (out->data + start, (guint32) size);
	put_u32 (out->data + start + 4, tether_outbox_crc32 (out->data + start + FRAME_SIZE, size));
	return TRUE;
}

/* the message in a record's body, or NULL when the body is not one */
static TetherMessage *
decode_record (const guint8 *body, gsize size)
{
	g_autoptr(GBytes) bytes = g_bytes_new (body, size);
	g_autoptr(GVariant) record = NULL;
	g_autoptr(GVariant) options = NULL;
	g_autoptr(GVariant) payload_v = NULL;
	g_autoptr(GBytes) payload = NULL;
	TetherMessage *message;
	guint64 id;
	gint64 expires;
	const gchar *kind;

	record = g_variant_ref_sink (
	        g_variant_new_from_bytes (G_VARIANT_TYPE (RECORD_TYPE), bytes, FALSE));
	if (!g_variant_is_normal_form (record))
		return NULL;
	if (G_BYTE_ORDER == G_BIG_ENDIAN) {
		GVariant *swapped = g_variant_byteswap (record);
		g_variant_unref (record);
		record = swapped;
	}
	g_variant_get (record, "(tx&s@a{sv}@ay)", &id, &expires, &kind, &options, &payload_v);
	if (id == 0)
		return NULL;
	payload = g_variant_get_data_as_bytes (payload_v);
	message = tether_message_new (kind, payload, options);
	tether_message_set_id (message, id);
	tether_message_set_expires (message, expires);
	return message;
}

/* ---- the worker's side: nothing here touches the outbox but its lock ---- */

static gboolean
create_segment (FlushJob *job, GError **error)
{
	Segment *segment = job->create;
	g_autofree gchar *state_path = g_build_filename (job->dir, STATE_FILE, NULL);
	guint8 header[HEADER_SIZE];
	g_autoptr(GError) error_local = NULL;
	int errsv = 0;
	int ack_fd;

	segment->fd = g_open (segment->log_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (segment->fd < 0) {
		set_io_error (error, job->dir, segment->log_path, errno);
		return FALSE;
	}
	put_header (header, SEGMENT_MAGIC);
	if (!write_all (segment->fd, header, HEADER_SIZE, 0, &errsv) ||
	    fdatasync (segment->fd) != 0) {
		set_io_error (error, job->dir, segment->log_path, errsv != 0 ? errsv : errno);
		segment_close (segment);
		g_unlink (segment->log_path);
		return FALSE;
	}

	/* the .ack goes with its .log: one without the other means a file went missing */
	ack_fd = g_open (segment->ack_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	put_header (header, ACK_MAGIC);
	if (ack_fd < 0 || !write_all (ack_fd, header, HEADER_SIZE, 0, &errsv) ||
	    fdatasync (ack_fd) != 0) {
		set_io_error (error, job->dir, segment->ack_path, errsv != 0 ? errsv : errno);
		if (ack_fd >= 0)
			g_close (ack_fd, NULL);
		segment_close (segment);
		g_unlink (segment->ack_path);
		g_unlink (segment->log_path);
		return FALSE;
	}
	g_close (ack_fd, NULL);

	/* the next id survives even when every segment has gone */
	if (!g_file_set_contents_full (state_path, job->state_contents, -1,
	                               G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error_local)) {
		if (g_error_matches (error_local, G_FILE_ERROR, G_FILE_ERROR_NOSPC))
			set_io_error (error, job->dir, state_path, ENOSPC);
		else
			g_propagate_error (error, g_steal_pointer (&error_local));
		segment_close (segment);
		g_unlink (segment->ack_path);
		g_unlink (segment->log_path);
		return FALSE;
	}
	sync_dir (job->dir);
	return TRUE;
}

static void
write_records (FlushJob *job)
{
	gsize size = 0;
	const guint8 *data = g_bytes_get_data (job->records, &size);
	int fd = job->target->fd;
	int errsv = 0;

	if (write_all (fd, data, size, (off_t) job->offset, &errsv) && fdatasync (fd) == 0)
		return;
	if (errsv == 0)
		errsv = errno;
	set_io_error (&job->error, job->dir, job->target->log_path, errsv);

	/* take the partial write back, so the segment ends at a whole record */
	if (ftruncate (fd, (off_t) job->offset) != 0)
		job->target_broken = TRUE;
}

typedef struct {
	gchar *name;
	guint64 size;
} DirFile;

static void
dir_file_free (DirFile *file)
{
	g_free (file->name);
	g_free (file);
}

static gint
compare_dir_files (gconstpointer a, gconstpointer b)
{
	return g_strcmp0 ((*(DirFile *const *) a)->name, (*(DirFile *const *) b)->name);
}

/* removes the oldest files (by name) of @dir until at most @max_files and @max_bytes remain */
static void
prune_dir (const gchar *dir, guint max_files, guint64 max_bytes)
{
	g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
	g_autoptr(GPtrArray) files =
	                   g_ptr_array_new_with_free_func ((GDestroyNotify) dir_file_free);
	const gchar *name;
	guint64 total = 0;

	while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
		g_autofree gchar *path = g_build_filename (dir, name, NULL);
		GStatBuf st;
		DirFile *file;

		if (g_lstat (path, &st) != 0 || !S_ISREG (st.st_mode))
			continue;
		file = g_new0 (DirFile, 1);
		file->name = g_strdup (name);
		file->size = (guint64) st.st_size;
		total += file->size;
		g_ptr_array_add (files, file);
	}
	g_ptr_array_sort (files, compare_dir_files);
	for (guint i = 0; i < files->len && (files->len - i > max_files || total > max_bytes);
	     i++) {
		DirFile *file = g_ptr_array_index (files, i);
		g_autofree gchar *path = g_build_filename (dir, file->name, NULL);

		if (g_unlink (path) == 0)
			total -= file->size;
	}
}

static void
write_dead_letters (FlushJob *job)
{
	g_autofree gchar *dir = g_build_filename (job->dir, DEAD_LETTER_DIR, NULL);

	if (job->dead_letters == NULL || job->dead_letters->len == 0)
		return;
	g_mkdir_with_parents (dir, 0700);
	for (guint i = 0; i < job->dead_letters->len; i++) {
		FileWrite *write = g_ptr_array_index (job->dead_letters, i);
		g_autoptr(GError) error = NULL;
		gsize size = 0;
		const gchar *data = g_bytes_get_data (write->contents, &size);

		if (!g_file_set_contents_full (write->path, data, (gssize) size,
		                               G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
			g_warning ("outbox: cannot keep the dead letter %s: %s", write->path,
			           error->message);
	}
	prune_dir (dir, TETHER_OUTBOX_DEAD_LETTER_MAX_FILES, TETHER_OUTBOX_DEAD_LETTER_MAX_BYTES);
}

/* acknowledgements are not synced: after a power cut a few messages may go twice */
static void
write_acks (FlushJob *job)
{
	for (guint i = 0; job->acks != NULL && i < job->acks->len; i++) {
		FileWrite *write = g_ptr_array_index (job->acks, i);
		int fd = g_open (write->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		struct stat st;
		gsize size = 0;
		const guint8 *data = g_bytes_get_data (write->contents, &size);
		int errsv = 0;
		gboolean ok;

		if (fd < 0 || fstat (fd, &st) != 0) {
			g_debug ("outbox: cannot open %s: %s", write->path, g_strerror (errno));
			if (fd >= 0)
				g_close (fd, NULL);
			continue;
		}
		if (st.st_size == 0) {
			guint8 header[HEADER_SIZE];
			put_header (header, ACK_MAGIC);
			write_all (fd, header, HEADER_SIZE, 0, &errsv);
			st.st_size = HEADER_SIZE;
		}
		ok = write_all (fd, data, size, st.st_size, &errsv);
		if (!ok)
			g_debug ("outbox: cannot write %s: %s", write->path, g_strerror (errsv));
		g_close (fd, NULL);
	}
}

static void
execute_job (FlushJob *job)
{
	if (job->create != NULL)
		job->created = create_segment (job, &job->error);
	if (job->records != NULL && job->error == NULL)
		write_records (job);
	write_dead_letters (job);
	write_acks (job);
	for (guint i = 0; job->deletions != NULL && i < job->deletions->len; i++)
		g_unlink (g_ptr_array_index (job->deletions, i));
}

static void
run_job (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
	FlushJob *job = task_data;
	TetherOutbox *self = job->outbox;

	execute_job (job);

	/* tether_outbox_close() waits for this */
	g_mutex_lock (&self->lock);
	self->job_finished = TRUE;
	g_cond_broadcast (&self->job_cond);
	g_mutex_unlock (&self->lock);
	g_task_return_boolean (task, TRUE);
}

/* ---- the main thread's side ---- */

static gboolean
link_is_sent (TetherOutbox *self, GList *link)
{
	Entry *entry = link->data;
	Entry *next;

	/* ids grow along the queue, and sent messages head it */
	if (self->next_unsent == NULL)
		return TRUE;
	next = self->next_unsent->data;
	return tether_message_get_id (entry->message) < tether_message_get_id (next->message);
}

static void
mark_done (TetherOutbox *self, Segment *segment, guint64 id)
{
	guint64 le = GUINT64_TO_LE (id);

	segment->n_done++;
	g_array_append_val (segment->acks, le);
	self->dirty = TRUE;
}

static void
enqueue (TetherOutbox *self, TetherMessage *message, Segment *segment)
{
	Entry *entry = g_new0 (Entry, 1);
	guint64 id = tether_message_get_id (message);

	entry->message = g_object_ref (message);
	entry->segment = segment;
	g_queue_push_tail (&self->queue, entry);
	g_hash_table_insert (self->links, g_memdup2 (&id, sizeof (id)), self->queue.tail);
	if (self->next_unsent == NULL)
		self->next_unsent = self->queue.tail;
	self->bytes += message_size (message);
	if (tether_message_get_expires (message) != 0)
		self->n_deadlines++;
}

/* takes @link out of the queue and marks its record done; returns its message */
static TetherMessage *
unlink_entry (TetherOutbox *self, GList *link)
{
	Entry *entry = link->data;
	TetherMessage *message = g_object_ref (entry->message);
	guint64 id = tether_message_get_id (message);

	if (link == self->next_unsent)
		self->next_unsent = link->next;
	else if (link_is_sent (self, link))
		self->n_sent--;
	self->bytes -= message_size (message);
	if (tether_message_get_expires (message) != 0)
		self->n_deadlines--;
	mark_done (self, entry->segment, id);
	g_hash_table_remove (self->links, &id);
	g_queue_delete_link (&self->queue, link);
	entry_free (entry);
	return message;
}

static gboolean
is_drained (TetherOutbox *self)
{
	return self->queue.length == 0 && self->pending_messages == 0 && self->active != NULL &&
	       self->active->n_done == self->active->n_records;
}

static gboolean
retire_cb (gpointer user_data)
{
	TetherOutbox *self = user_data;

	self->retire_id = 0;
	if (is_drained (self)) {
		self->retire_active = TRUE;
		schedule_flush (self);
	}
	return G_SOURCE_REMOVE;
}

/* a drained outbox lets its last segment go after a while */
static void
maybe_schedule_retire (TetherOutbox *self)
{
	if (self->retire_id != 0 || self->closed || !is_drained (self))
		return;
	self->retire_id = g_timeout_add (TETHER_OUTBOX_RETIRE_DELAY_MS, retire_cb, self);
}

static void
drop_over_limits (TetherOutbox *self)
{
	if (self->policy != TETHER_OUTBOX_POLICY_DROP_OLDEST)
		return;
	while (self->queue.length > 0 &&
	       (self->queue.length > self->max_messages || self->bytes > self->max_bytes)) {
		g_autoptr(TetherMessage) message = unlink_entry (self, self->queue.head);
		guint64 id = tether_message_get_id (message);

		outbox_log (self, G_LOG_LEVEL_DEBUG, "full: message %" G_GUINT64_FORMAT " dropped",
		            id);
		g_signal_emit (self, signals[SIGNAL_DROPPED], 0, id, "dropped");
	}
}

static void
flush_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(TetherOutbox) self = user_data;
	FlushJob *job = g_task_get_task_data (G_TASK (result));
	Segment *target = job->target;
	g_autoptr(GPtrArray) waiters = NULL;

	g_mutex_lock (&self->lock);
	self->job = NULL;
	self->job_finished = FALSE;
	g_mutex_unlock (&self->lock);

	/* a new segment becomes the active one */
	if (job->create != NULL) {
		if (job->created) {
			g_queue_push_tail (&self->segments, job->create);
			self->active = job->create;
		} else {
			segment_free (job->create);
			target = NULL;
		}
	}

	/* the records are on disk: queue their messages */
	if (job->records != NULL) {
		if (job->error == NULL) {
			target->size = job->offset + g_bytes_get_size (job->records);
			for (guint i = 0; i < job->waiters->len; i++) {
				Waiter *waiter = g_ptr_array_index (job->waiters, i);
				for (guint j = 0; j < waiter->messages->len; j++) {
					enqueue (self, g_ptr_array_index (waiter->messages, j),
					         target);
					target->n_records++;
				}
			}
		} else {
			outbox_log (self, G_LOG_LEVEL_WARNING, "%s", job->error->message);
		}
		self->pending_messages -= job->n_messages;
		self->pending_bytes -= job->n_bytes;
		if (job->target_broken && target != NULL && target == self->active) {
			segment_close (target);
			self->active = NULL;
		}
		drop_over_limits (self);
		waiters = g_steal_pointer (&job->waiters);
	}
	if (self->closed && self->active != NULL)
		segment_close (self->active);

	/* the callers last: they may append again */
	for (guint i = 0; waiters != NULL && i < waiters->len; i++) {
		Waiter *waiter = g_ptr_array_index (waiters, i);
		if (job->error == NULL)
			g_task_return_boolean (waiter->task, TRUE);
		else
			g_task_return_error (waiter->task, g_error_copy (job->error));
	}
	schedule_flush (self);
	maybe_schedule_retire (self);
}

static gchar *
state_contents (TetherOutbox *self, guint64 next_id)
{
	g_autoptr(GKeyFile) key_file = g_key_file_new ();

	g_key_file_set_integer (key_file, STATE_GROUP, "version", TETHER_OUTBOX_FORMAT_VERSION);
	g_key_file_set_uint64 (key_file, STATE_GROUP, "next-id", next_id);
	return g_key_file_to_data (key_file, NULL, NULL);
}

/* what the next write holds, taken from what is pending; NULL when nothing is */
static FlushJob *
plan_job (TetherOutbox *self, gboolean with_records)
{
	FlushJob *job = g_new0 (FlushJob, 1);
	gboolean records = with_records && self->pending_records->len > 0;

	job->dir = g_strdup (self->dir);

	/* a drained or purged outbox lets its segment go; a full one starts the next */
	if (self->active != NULL &&
	    (self->retire_active || (records && self->active->size >= self->segment_size))) {
		segment_close (self->active);
		self->active = NULL;
	}
	self->retire_active = FALSE;

	if (records) {
		Waiter *first = g_ptr_array_index (self->pending_waiters, 0);
		TetherMessage *message = g_ptr_array_index (first->messages, 0);

		if (self->active == NULL) {
			job->create = segment_new (self->dir, tether_message_get_id (message));
			job->state_contents = state_contents (self, self->next_id);
			job->target = job->create;
			job->offset = HEADER_SIZE;
		} else {
			job->target = self->active;
			job->offset = self->active->size;
		}
		job->records = g_byte_array_free_to_bytes (self->pending_records);
		self->pending_records = g_byte_array_new ();
		job->waiters = self->pending_waiters;
		self->pending_waiters =
		        g_ptr_array_new_with_free_func ((GDestroyNotify) waiter_free);
		for (guint i = 0; i < job->waiters->len; i++) {
			Waiter *waiter = g_ptr_array_index (job->waiters, i);
			job->n_messages += waiter->messages->len;
			for (guint j = 0; j < waiter->messages->len; j++)
				job->n_bytes +=
				        message_size (g_ptr_array_index (waiter->messages, j));
		}
		g_clear_handle_id (&self->retire_id, g_source_remove);
	}

	/* segments whose records are all done go; the others get their acknowledgements */
	if (self->dirty) {
		GList *link = self->segments.head;

		job->deletions = g_ptr_array_new_with_free_func (g_free);
		job->acks = g_ptr_array_new_with_free_func ((GDestroyNotify) file_write_free);
		while (link != NULL) {
			GList *next = link->next;
			Segment *segment = link->data;

			if (segment != self->active && segment->n_done == segment->n_records) {
				g_ptr_array_add (job->deletions, g_strdup (segment->ack_path));
				g_ptr_array_add (job->deletions, g_strdup (segment->log_path));
				g_queue_delete_link (&self->segments, link);
				segment_free (segment);
			} else if (segment->acks->len > 0) {
				FileWrite *write = g_new0 (FileWrite, 1);
				write->path = g_strdup (segment->ack_path);
				write->contents = g_bytes_new (
				        segment->acks->data, segment->acks->len * sizeof (guint64));
				g_array_set_size (segment->acks, 0);
				g_ptr_array_add (job->acks, write);
			}
			link = next;
		}
		self->dirty = FALSE;
	}
	if (self->pending_dead_letters->len > 0) {
		job->dead_letters = self->pending_dead_letters;
		self->pending_dead_letters =
		        g_ptr_array_new_with_free_func ((GDestroyNotify) file_write_free);
	}

	if (job->create == NULL && job->records == NULL && job->dead_letters == NULL &&
	    (job->deletions == NULL || job->deletions->len == 0) &&
	    (job->acks == NULL || job->acks->len == 0)) {
		flush_job_free (job);
		return NULL;
	}
	return job;
}

static void
start_flush (TetherOutbox *self)
{
	FlushJob *job;
	g_autoptr(GTask) task = NULL;

	g_clear_handle_id (&self->flush_id, g_source_remove);
	if (self->job != NULL || self->closed || self->unusable != NULL)
		return;
	job = plan_job (self, TRUE);
	if (job == NULL)
		return;
	self->job = job;
	job->outbox = self;

	/*
	 * not the task's source object: the worker thread lets go of the task
	 * after flush_done() may have run, and the outbox must never be
	 * finalized there
	 */
	task = g_task_new (NULL, NULL, flush_done, g_object_ref (self));
	g_task_set_source_tag (task, start_flush);
	g_task_set_task_data (task, job, (GDestroyNotify) flush_job_free);
	g_task_run_in_thread (task, run_job);
}

static gboolean
flush_cb (gpointer user_data)
{
	TetherOutbox *self = user_data;

	self->flush_id = 0;
	start_flush (self);
	return G_SOURCE_REMOVE;
}

/* records go at once; acknowledgements and deletions gather a little first */
static void
schedule_flush (TetherOutbox *self)
{
	if (self->job != NULL || self->closed || self->unusable != NULL)
		return;
	if (self->pending_records->len > 0 || self->retire_active) {
		start_flush (self);
		return;
	}
	if ((self->dirty || self->pending_dead_letters->len > 0) && self->flush_id == 0)
		self->flush_id = g_timeout_add (TETHER_OUTBOX_ACK_DELAY_MS, flush_cb, self);
}

/* ---- loading ---- */

static void
add_damage (TetherOutbox *self, const gchar *line)
{
	outbox_log (self, G_LOG_LEVEL_WARNING, "%s", line);
	/* keep it NULL-terminated */
	g_ptr_array_remove_index (self->damage, self->damage->len - 1);
	g_ptr_array_add (self->damage, g_strdup (line));
	g_ptr_array_add (self->damage, NULL);
}

static gchar *
quarantine_path (TetherOutbox *self, const gchar *name)
{
	g_autofree gchar *dir = g_build_filename (self->dir, QUARANTINE_DIR, NULL);
	g_autofree gchar *file = NULL;

	g_mkdir_with_parents (dir, 0700);
	file = g_strdup_printf ("%" G_GINT64_FORMAT "-%s", g_get_real_time (), name);
	return g_build_filename (dir, file, NULL);
}

static void
prune_quarantine (TetherOutbox *self)
{
	g_autofree gchar *dir = g_build_filename (self->dir, QUARANTINE_DIR, NULL);

	prune_dir (dir, TETHER_OUTBOX_QUARANTINE_MAX_FILES, TETHER_OUTBOX_QUARANTINE_MAX_BYTES);
}

/* moves a damaged file aside; it never stops the loading */
static void
quarantine_file (TetherOutbox *self, const gchar *name, const gchar *why)
{
	g_autofree gchar *path = g_build_filename (self->dir, name, NULL);
	g_autofree gchar *dest = quarantine_path (self, name);
	g_autofree gchar *line = NULL;

	if (g_rename (path, dest) == 0) {
		g_autofree gchar *base = g_path_get_basename (dest);
		line = g_strdup_printf ("%s: %s; moved to %s/%s", name, why, QUARANTINE_DIR, base);
	} else {
		line = g_strdup_printf ("%s: %s; cannot move it to %s/ (%s), removed", name, why,
		                        QUARANTINE_DIR, g_strerror (errno));
		g_unlink (path);
	}
	add_damage (self, line);
	prune_quarantine (self);
}

/* sets a segment's damaged end aside and cuts the segment there */
static void
quarantine_tail (TetherOutbox *self, const gchar *name, const guint8 *data, gsize size,
                 gsize offset, const gchar *why)
{
	g_autofree gchar *path = g_build_filename (self->dir, name, NULL);
	g_autofree gchar *tail_name = g_strdup_printf ("%s.tail-at-%zu", name, offset);
	g_autofree gchar *dest = quarantine_path (self, tail_name);
	g_autofree gchar *base = g_path_get_basename (dest);
	g_autofree gchar *line = NULL;
	g_autoptr(GError) error = NULL;
	int fd;

	if (!g_file_set_contents_full (dest, (const gchar *) data + offset,
	                               (gssize) (size - offset), G_FILE_SET_CONTENTS_CONSISTENT,
	                               0600, &error))
		outbox_log (self, G_LOG_LEVEL_WARNING, "cannot keep the damaged end of %s: %s",
		            name, error->message);
	line = g_strdup_printf ("%s: %s at byte %zu; the %zu bytes from there moved to %s/%s, "
	                        "the records before it kept",
	                        name, why, offset, size - offset, QUARANTINE_DIR, base);
	add_damage (self, line);

	fd = g_open (path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0 || ftruncate (fd, (off_t) offset) != 0 || fsync (fd) != 0)
		outbox_log (self, G_LOG_LEVEL_WARNING, "cannot cut %s at byte %zu: %s", name,
		            offset, g_strerror (errno));
	if (fd >= 0)
		g_close (fd, NULL);
	prune_quarantine (self);
}

static void
set_newer_version_error (TetherOutbox *self, const gchar *name, guint32 version, GError **error)
{
	g_set_error (error, TETHER_ERROR, TETHER_ERROR_FAILED,
	             _("the outbox in %s holds %s in format version %u, newer than this tether "
	               "reads (%u): run a newer tether, or move the directory away to start "
	               "with an empty outbox"),
	                self->dir, name, version, TETHER_OUTBOX_FORMAT_VERSION);
}

/* checks a file header; FALSE with @error only for a newer version, with *damaged otherwise */
static gboolean
check_header (TetherOutbox *self, const gchar *name, const guint8 *data, gsize size,
              const gchar *magic, gchar **damaged, GError **error)
{
	guint32 version;

	if (size < HEADER_SIZE || memcmp (data, magic, 8) != 0) {
		*damaged = g_strdup (_("not an outbox file (no header)"));
		return TRUE;
	}
	version = get_u32 (data + 8);
	if (version > TETHER_OUTBOX_FORMAT_VERSION) {
		set_newer_version_error (self, name, version, error);
		return FALSE;
	}
	if (version == 0)
		*damaged = g_strdup (_("format version 0 does not exist"));
	return TRUE;
}

/* adds the ids an .ack file names to @done; FALSE only for a newer version */
static gboolean
load_acks (TetherOutbox *self, const gchar *name, GHashTable *done, GError **error)
{
	g_autofree gchar *path = g_build_filename (self->dir, name, NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *damaged = NULL;
	gsize size = 0;

	if (!g_file_get_contents (path, &contents, &size, NULL))
		return TRUE;
	if (size == 0)
		return TRUE;
	if (!check_header (self, name, (const guint8 *) contents, size, ACK_MAGIC, &damaged, error))
		return FALSE;
	if (damaged != NULL) {
		/* its messages will be sent again: duplicates, not losses */
		quarantine_file (self, name, damaged);
		return TRUE;
	}
	/* a torn last id is ignored: that message goes again */
	for (gsize offset = HEADER_SIZE; offset + 8 <= size; offset += 8) {
		guint64 id = get_u64 ((const guint8 *) contents + offset);
		g_hash_table_add (done, g_memdup2 (&id, sizeof (id)));
	}
	return TRUE;
}

static gboolean
load_segment (TetherOutbox *self, guint64 first_id, gboolean has_ack, guint64 *max_id,
              GError **error)
{
	g_autofree gchar *log_name = segment_file_name (first_id, ".log");
	g_autofree gchar *ack_name = segment_file_name (first_id, ".ack");
	g_autofree gchar *path = g_build_filename (self->dir, log_name, NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *damaged = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GHashTable) done =
	                   g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
	const guint8 *data;
	gsize size = 0;
	gsize offset = HEADER_SIZE;
	Segment *segment;

	if (!g_file_get_contents (path, &contents, &size, &error_local)) {
		g_autofree gchar *why =
		        g_strdup_printf (_("cannot be read (%s)"), error_local->message);
		quarantine_file (self, log_name, why);
		return TRUE;
	}
	data = (const guint8 *) contents;
	if (!check_header (self, log_name, data, size, SEGMENT_MAGIC, &damaged, error))
		return FALSE;
	if (damaged != NULL) {
		quarantine_file (self, log_name, damaged);
		if (has_ack)
			quarantine_file (self, ack_name, _("its segment was damaged"));
		return TRUE;
	}
	if (has_ack && !load_acks (self, ack_name, done, error))
		return FALSE;

	segment = segment_new (self->dir, first_id);
	g_queue_push_tail (&self->segments, segment);
	while (offset < size) {
		const gchar *why = NULL;
		guint32 length = 0;
		g_autoptr(TetherMessage) message = NULL;
		guint64 id;

		if (size - offset < FRAME_SIZE) {
			why = _("a truncated record frame");
		} else {
			length = get_u32 (data + offset);
			if (length > TETHER_OUTBOX_MAX_RECORD)
				why = _("a record length out of range");
			else if (size - offset - FRAME_SIZE < length)
				why = _("a truncated record");
			else if (tether_outbox_crc32 (data + offset + FRAME_SIZE, length) !=
			         get_u32 (data + offset + 4))
				why = _("a record whose checksum does not match");
			else if ((message = decode_record (data + offset + FRAME_SIZE, length)) ==
			         NULL)
				why = _("a record that does not decode");
			else if (tether_message_get_id (message) <= *max_id)
				why = _("a record out of order");
		}
		if (why != NULL) {
			quarantine_tail (self, log_name, data, size, offset, why);
			break;
		}
		id = tether_message_get_id (message);
		*max_id = id;
		segment->n_records++;
		if (g_hash_table_contains (done, &id))
			segment->n_done++;
		else
			enqueue (self, message, segment);
		offset += FRAME_SIZE + length;
	}
	segment->size = offset;
	if (segment->n_done == segment->n_records)
		self->dirty = TRUE; /* goes with the first write */
	return TRUE;
}

static gint
compare_ids (gconstpointer a, gconstpointer b)
{
	guint64 x = *(const guint64 *) a;
	guint64 y = *(const guint64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static gint
compare_id_pointers (gconstpointer a, gconstpointer b)
{
	return compare_ids (*(const guint64 *const *) a, *(const guint64 *const *) b);
}

/* an .ack whose .log is gone: the segment went missing */
static void
report_orphan_acks (TetherOutbox *self, GHashTable *acks)
{
	g_autoptr(GPtrArray) orphans = tether_hash_table_get_keys (acks);

	g_ptr_array_sort (orphans, compare_id_pointers);
	for (guint i = 0; i < orphans->len; i++) {
		guint64 first_id = *(guint64 *) g_ptr_array_index (orphans, i);
		g_autofree gchar *ack_name = segment_file_name (first_id, ".ack");
		g_autofree gchar *why = g_strdup_printf (
		        _("its segment is missing: the messages it held, from id %llu on, are "
		          "lost"),
		           (unsigned long long) first_id);
		quarantine_file (self, ack_name, why);
	}
}

/* the format version in a file's header; 0 when it has no header with @magic */
static guint32
read_header_version (const gchar *path, const gchar *magic)
{
	guint8 header[HEADER_SIZE];
	int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
	gsize got = 0;

	if (fd < 0)
		return 0;
	while (got < HEADER_SIZE) {
		ssize_t n = pread (fd, header + got, HEADER_SIZE - got, (off_t) got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (gsize) n;
	}
	g_close (fd, NULL);
	if (got < HEADER_SIZE || memcmp (header, magic, 8) != 0)
		return 0;
	return get_u32 (header + 8);
}

/*
 * A newer tether's outbox is not touched at all: its files are checked
 * before anything is quarantined, cut or removed, since a newer format may
 * hold files this one does not know
 */
static gboolean
check_versions (TetherOutbox *self, GArray *logs, GHashTable *acks, GError **error)
{
	g_autofree gchar *state_path = g_build_filename (self->dir, STATE_FILE, NULL);
	g_autoptr(GKeyFile) key_file = g_key_file_new ();
	g_autoptr(GPtrArray) ack_ids = tether_hash_table_get_keys (acks);

	if (g_key_file_load_from_file (key_file, state_path, G_KEY_FILE_NONE, NULL)) {
		gint version = g_key_file_get_integer (key_file, STATE_GROUP, "version", NULL);
		if (version > TETHER_OUTBOX_FORMAT_VERSION) {
			set_newer_version_error (self, STATE_FILE, (guint32) version, error);
			return FALSE;
		}
	}
	for (guint i = 0; i < logs->len + ack_ids->len; i++) {
		gboolean is_log = i < logs->len;
		guint64 first_id = is_log ? g_array_index (logs, guint64, i)
		                          : *(guint64 *) g_ptr_array_index (ack_ids, i - logs->len);
		g_autofree gchar *name = segment_file_name (first_id, is_log ? ".log" : ".ack");
		g_autofree gchar *path = g_build_filename (self->dir, name, NULL);
		guint32 version = read_header_version (path, is_log ? SEGMENT_MAGIC : ACK_MAGIC);

		if (version > TETHER_OUTBOX_FORMAT_VERSION) {
			set_newer_version_error (self, name, version, error);
			return FALSE;
		}
	}
	return TRUE;
}

/* after a refusal: nothing of what was read stays, so nothing is written back */
static void
forget_loaded (TetherOutbox *self)
{
	g_queue_clear_full (&self->queue, (GDestroyNotify) entry_free);
	g_queue_clear_full (&self->segments, (GDestroyNotify) segment_free);
	g_hash_table_remove_all (self->links);
	self->next_unsent = NULL;
	self->n_sent = 0;
	self->bytes = 0;
	self->n_deadlines = 0;
	self->dirty = FALSE;
}

static gboolean
load_state (TetherOutbox *self, guint64 *next_id, GError **error)
{
	g_autofree gchar *path = g_build_filename (self->dir, STATE_FILE, NULL);
	g_autoptr(GKeyFile) key_file = g_key_file_new ();
	g_autoptr(GError) error_local = NULL;
	gint version;

	if (!g_file_test (path, G_FILE_TEST_EXISTS))
		return TRUE;
	if (!g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, &error_local)) {
		g_autofree gchar *why =
		        g_strdup_printf (_("cannot be read (%s)"), error_local->message);
		quarantine_file (self, STATE_FILE, why);
		return TRUE;
	}
	version = g_key_file_get_integer (key_file, STATE_GROUP, "version", NULL);
	if (version > TETHER_OUTBOX_FORMAT_VERSION) {
		set_newer_version_error (self, STATE_FILE, (guint32) version, error);
		return FALSE;
	}
	if (version < 1) {
		quarantine_file (self, STATE_FILE, _("no format version"));
		return TRUE;
	}
	*next_id = g_key_file_get_uint64 (key_file, STATE_GROUP, "next-id", NULL);
	return TRUE;
}

gboolean
tether_outbox_load (TetherOutbox *self, GError **error)
{
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GArray) logs = g_array_new (FALSE, FALSE, sizeof (guint64));
	g_autoptr(GHashTable) acks =
	                   g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
	g_autoptr(GPtrArray) strays = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GPtrArray) temporaries = g_ptr_array_new_with_free_func (g_free);
	g_autoptr(GError) error_local = NULL;
	const gchar *name;
	guint64 state_next_id = 0;
	guint64 max_id = 0;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);

	if (g_mkdir_with_parents (self->dir, 0700) != 0) {
		g_set_error (&error_local, TETHER_ERROR, TETHER_ERROR_FAILED,
		             _("cannot create the outbox directory %s: %s"), self->dir,
		                g_strerror (errno));
	}
	if (error_local == NULL)
		dir = g_dir_open (self->dir, 0, &error_local);
	if (error_local != NULL) {
		self->unusable = g_error_copy (error_local);
		g_propagate_error (error, g_steal_pointer (&error_local));
		return FALSE;
	}

	/* what the directory holds, touching nothing yet */
	while ((name = g_dir_read_name (dir)) != NULL) {
		guint64 first_id;

		if (parse_segment_name (name, ".log", &first_id)) {
			g_array_append_val (logs, first_id);
		} else if (parse_segment_name (name, ".ack", &first_id)) {
			g_hash_table_add (acks, g_memdup2 (&first_id, sizeof (first_id)));
		} else if (g_str_equal (name, STATE_FILE) || g_str_equal (name, QUARANTINE_DIR) ||
		           g_str_equal (name, DEAD_LETTER_DIR)) {
			continue;
		} else if (g_str_has_prefix (name, STATE_FILE ".")) {
			/* a temporary file of an interrupted write of outbox.state */
			g_ptr_array_add (temporaries, g_strdup (name));
		} else {
			g_ptr_array_add (strays, g_strdup (name));
		}
	}
	if (!check_versions (self, logs, acks, &error_local) ||
	    !load_state (self, &state_next_id, &error_local)) {
		self->unusable = g_error_copy (error_local);
		g_propagate_error (error, g_steal_pointer (&error_local));
		return FALSE;
	}

	for (guint i = 0; i < temporaries->len; i++) {
		g_autofree gchar *path =
		        g_build_filename (self->dir, g_ptr_array_index (temporaries, i), NULL);
		g_unlink (path);
	}
	for (guint i = 0; i < strays->len; i++)
		quarantine_file (self, g_ptr_array_index (strays, i), _("not an outbox file"));

	/* the segments, oldest first; an .ack without its .log means a file went missing */
	g_array_sort (logs, compare_ids);
	for (guint i = 0; i < logs->len; i++) {
		guint64 first_id = g_array_index (logs, guint64, i);
		gboolean has_ack = g_hash_table_remove (acks, &first_id);

		/* a file that changed since check_versions() */
		if (!load_segment (self, first_id, has_ack, &max_id, &error_local)) {
			forget_loaded (self);
			self->unusable = g_error_copy (error_local);
			g_propagate_error (error, g_steal_pointer (&error_local));
			return FALSE;
		}
	}
	report_orphan_acks (self, acks);

	self->next_id = MAX (MAX (state_next_id, max_id + 1), self->next_id);
	if (self->queue.length > 0)
		outbox_log (self, G_LOG_LEVEL_INFO, "%u messages to send from %s",
		            self->queue.length, self->dir);
	schedule_flush (self);
	return TRUE;
}

/* ---- the API ---- */

TetherOutbox *
tether_outbox_new (const gchar *dir, const gchar *name)
{
	TetherOutbox *self = g_object_new (TETHER_TYPE_OUTBOX, NULL);

	self->dir = g_strdup (dir);
	self->name = g_strdup (name);
	return self;
}

const gchar *const *
tether_outbox_get_damage (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	if (self->damage->len <= 1)
		return NULL;
	return (const gchar *const *) self->damage->pdata;
}

const GError *
tether_outbox_get_error (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	return self->unusable;
}

const gchar *
tether_outbox_get_dir (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	return self->dir;
}

void
tether_outbox_set_limits (TetherOutbox *self, guint64 max_messages, guint64 max_bytes,
                          TetherOutboxPolicy policy)
{
	g_return_if_fail (TETHER_IS_OUTBOX (self));
	self->max_messages = max_messages;
	self->max_bytes = max_bytes;
	self->policy = policy;
}

void
tether_outbox_set_segment_size (TetherOutbox *self, gsize size)
{
	g_return_if_fail (TETHER_IS_OUTBOX (self));
	self->segment_size = MAX (size, HEADER_SIZE + 1);
}

guint64
tether_outbox_peek_next_id (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), 0);
	return self->next_id;
}

gboolean
tether_outbox_check_room (TetherOutbox *self, GPtrArray *messages, GError **error)
{
	guint64 bytes = 0;
	guint64 held = self->queue.length + self->pending_messages;
	guint64 held_bytes = self->bytes + self->pending_bytes;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);
	if (self->unusable != NULL) {
		g_propagate_error (error, g_error_copy (self->unusable));
		return FALSE;
	}
	for (guint i = 0; i < messages->len; i++)
		bytes += message_size (g_ptr_array_index (messages, i));

	/* dropping the oldest makes room, unless the new ones alone do not fit */
	if (self->policy == TETHER_OUTBOX_POLICY_DROP_OLDEST) {
		held = self->pending_messages;
		held_bytes = self->pending_bytes;
	}
	if (held + messages->len > self->max_messages) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_QUEUE_FULL,
		             _("the outbox is full: it holds %llu messages and its limit is %llu "
		               "(max-queued-messages); wait until they are delivered, or raise "
		               "the limit"),
		                (unsigned long long) held, (unsigned long long) self->max_messages);
		return FALSE;
	}
	if (held_bytes + bytes > self->max_bytes) {
		g_set_error (error, TETHER_ERROR, TETHER_ERROR_QUEUE_FULL,
		             _("the outbox is full: it holds %llu bytes, and %llu more would pass "
		               "its limit of %llu (max-queued-bytes); wait until they are "
		               "delivered, or raise the limit"),
		                (unsigned long long) held_bytes, (unsigned long long) bytes,
		                (unsigned long long) self->max_bytes);
		return FALSE;
	}
	return TRUE;
}

void
tether_outbox_append_async (TetherOutbox *self, GPtrArray *messages, GAsyncReadyCallback callback,
                            gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) records = g_byte_array_new ();
	Waiter *waiter;
	guint64 bytes = 0;

	g_return_if_fail (TETHER_IS_OUTBOX (self));
	task = g_task_new (self, NULL, callback, user_data);
	g_task_set_source_tag (task, tether_outbox_append_async);

	if (self->closed) {
		g_task_return_new_error (task, TETHER_ERROR, TETHER_ERROR_FAILED,
		                         _("the outbox in %s is closed"), self->dir);
		return;
	}
	if (!tether_outbox_check_room (self, messages, &error)) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}

	/* the ids, then the records: all of them or none */
	for (guint i = 0; i < messages->len; i++) {
		TetherMessage *message = g_ptr_array_index (messages, i);

		tether_message_set_id (message, self->next_id + i);
		if (!encode_record (records, message, &error)) {
			g_task_return_error (task, g_steal_pointer (&error));
			return;
		}
		bytes += message_size (message);
	}
	self->next_id += messages->len;
	g_byte_array_append (self->pending_records, records->data, records->len);
	self->pending_messages += messages->len;
	self->pending_bytes += bytes;

	waiter = g_new0 (Waiter, 1);
	waiter->task = g_steal_pointer (&task);
	waiter->messages = g_ptr_array_ref (messages);
	g_ptr_array_add (self->pending_waiters, waiter);
	schedule_flush (self);
}

gboolean
tether_outbox_append_finish (TetherOutbox *self, GAsyncResult *result, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

TetherMessage *
tether_outbox_next_unsent (TetherOutbox *self)
{
	Entry *entry;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	if (self->next_unsent == NULL)
		return NULL;
	entry = self->next_unsent->data;
	entry->sent_at = g_get_monotonic_time ();
	self->next_unsent = self->next_unsent->next;
	self->n_sent++;
	return entry->message;
}

void
tether_outbox_unsend_all (TetherOutbox *self)
{
	g_return_if_fail (TETHER_IS_OUTBOX (self));
	self->next_unsent = self->queue.head;
	self->n_sent = 0;
}

gboolean
tether_outbox_unsend (TetherOutbox *self, guint64 id)
{
	GList *link;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);
	link = g_hash_table_lookup (self->links, &id);
	if (link == NULL || link->next != self->next_unsent)
		return FALSE;
	self->next_unsent = link;
	self->n_sent--;
	return TRUE;
}

TetherMessage *
tether_outbox_peek_oldest (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	if (self->queue.head == NULL)
		return NULL;
	return ((Entry *) self->queue.head->data)->message;
}

TetherMessage *
tether_outbox_peek_oldest_sent (TetherOutbox *self, gint64 *sent_at)
{
	Entry *entry;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	if (self->n_sent == 0 || self->queue.head == NULL)
		return NULL;
	entry = self->queue.head->data;
	if (sent_at != NULL)
		*sent_at = entry->sent_at;
	return entry->message;
}

gboolean
tether_outbox_remove (TetherOutbox *self, guint64 id)
{
	GList *link;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);
	link = g_hash_table_lookup (self->links, &id);
	if (link == NULL)
		return FALSE;
	g_object_unref (unlink_entry (self, link));
	schedule_flush (self);
	maybe_schedule_retire (self);
	return TRUE;
}

gboolean
tether_outbox_dead_letter (TetherOutbox *self, guint64 id)
{
	GList *link;
	Entry *entry;
	g_autoptr(GByteArray) contents = g_byte_array_new ();
	g_autofree gchar *name = NULL;
	FileWrite *write;
	guint8 header[HEADER_SIZE];

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);
	link = g_hash_table_lookup (self->links, &id);
	if (link == NULL)
		return FALSE;
	entry = link->data;

	/* the same format as a segment, with the one record */
	put_header (header, SEGMENT_MAGIC);
	g_byte_array_append (contents, header, HEADER_SIZE);
	if (encode_record (contents, entry->message, NULL)) {
		name = g_strdup_printf ("%020" G_GUINT64_FORMAT ".msg", id);
		write = g_new0 (FileWrite, 1);
		write->path = g_build_filename (self->dir, DEAD_LETTER_DIR, name, NULL);
		write->contents = g_byte_array_free_to_bytes (g_steal_pointer (&contents));
		g_ptr_array_add (self->pending_dead_letters, write);
	}
	return tether_outbox_remove (self, id);
}

GPtrArray *
tether_outbox_take_expired (TetherOutbox *self, gint64 now)
{
	GPtrArray *expired = g_ptr_array_new_with_free_func (g_object_unref);
	GList *link;

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	link = self->next_unsent;
	while (link != NULL && self->n_deadlines > 0) {
		GList *next = link->next;
		TetherMessage *message = ((Entry *) link->data)->message;
		gint64 expires = tether_message_get_expires (message);

		if (expires != 0 && expires <= now)
			g_ptr_array_add (expired, unlink_entry (self, link));
		link = next;
	}
	if (expired->len > 0) {
		schedule_flush (self);
		maybe_schedule_retire (self);
	}
	return expired;
}

gboolean
tether_outbox_has_deadlines (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);
	return self->n_deadlines > 0;
}

GArray *
tether_outbox_purge (TetherOutbox *self)
{
	GArray *ids = g_array_new (FALSE, FALSE, sizeof (guint64));

	g_return_val_if_fail (TETHER_IS_OUTBOX (self), NULL);
	while (self->queue.head != NULL) {
		g_autoptr(TetherMessage) message = unlink_entry (self, self->queue.head);
		guint64 id = tether_message_get_id (message);
		g_array_append_val (ids, id);
	}
	self->next_unsent = NULL;
	self->n_sent = 0;

	/* the segments go from the disk with the next write */
	self->retire_active = TRUE;
	schedule_flush (self);
	return ids;
}

void
tether_outbox_close (TetherOutbox *self)
{
	FlushJob *job;

	g_return_if_fail (TETHER_IS_OUTBOX (self));
	self->closed = TRUE;
	g_clear_handle_id (&self->flush_id, g_source_remove);
	g_clear_handle_id (&self->retire_id, g_source_remove);

	/* the write in progress finishes: a record is never cut in the middle */
	g_mutex_lock (&self->lock);
	while (self->job != NULL && !self->job_finished)
		g_cond_wait (&self->job_cond, &self->lock);
	g_mutex_unlock (&self->lock);

	/*
	 * what is done is written down now, so fewer messages go twice after a
	 * restart; appends not yet on disk were never answered and stay out (a
	 * finished write not yet applied leaves it to that one's completion)
	 */
	job = self->job == NULL && self->unusable == NULL ? plan_job (self, FALSE) : NULL;
	if (job != NULL) {
		execute_job (job);
		flush_job_free (job);
	}
	if (self->active != NULL)
		segment_close (self->active);
}

gboolean
tether_outbox_delete (TetherOutbox *self, GError **error)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), FALSE);
	tether_outbox_close (self);
	return tether_remove_tree (self->dir, error);
}

guint64
tether_outbox_get_length (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), 0);
	return self->queue.length;
}

guint64
tether_outbox_get_bytes (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), 0);
	return self->bytes;
}

guint
tether_outbox_get_n_sent (TetherOutbox *self)
{
	g_return_val_if_fail (TETHER_IS_OUTBOX (self), 0);
	return self->n_sent;
}

static void
tether_outbox_dispose (GObject *object)
{
	TetherOutbox *self = TETHER_OUTBOX (object);

	/* a running job holds a reference: there is none here */
	tether_outbox_close (self);
	G_OBJECT_CLASS (tether_outbox_parent_class)->dispose (object);
}

static void
tether_outbox_finalize (GObject *object)
{
	TetherOutbox *self = TETHER_OUTBOX (object);

	g_queue_clear_full (&self->queue, (GDestroyNotify) entry_free);
	g_queue_clear_full (&self->segments, (GDestroyNotify) segment_free);
	g_hash_table_unref (self->links);
	g_byte_array_unref (self->pending_records);
	g_ptr_array_unref (self->pending_waiters);
	g_ptr_array_unref (self->pending_dead_letters);
	g_ptr_array_unref (self->damage);
	g_clear_error (&self->unusable);
	g_mutex_clear (&self->lock);
	g_cond_clear (&self->job_cond);
	g_free (self->dir);
	g_free (self->name);
	G_OBJECT_CLASS (tether_outbox_parent_class)->finalize (object);
}

static void
tether_outbox_class_init (TetherOutboxClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = tether_outbox_dispose;
	object_class->finalize = tether_outbox_finalize;

	signals[SIGNAL_DROPPED] =
	        g_signal_new ("dropped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
	                      NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_STRING);
}

static void
tether_outbox_init (TetherOutbox *self)
{
	g_queue_init (&self->queue);
	g_queue_init (&self->segments);
	self->links = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
	self->next_id = 1;
	self->max_messages = G_MAXUINT64;
	self->max_bytes = G_MAXUINT64;
	self->segment_size = TETHER_OUTBOX_SEGMENT_SIZE;
	self->pending_records = g_byte_array_new ();
	self->pending_waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) waiter_free);
	self->pending_dead_letters =
	        g_ptr_array_new_with_free_func ((GDestroyNotify) file_write_free);
	self->damage = g_ptr_array_new_with_free_func (g_free);
	g_ptr_array_add (self->damage, NULL);
	g_mutex_init (&self->lock);
	g_cond_init (&self->job_cond);
}
