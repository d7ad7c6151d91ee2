/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A build is a job: a worker process fetches the sources, reads Run.yaml and lays out the
 * image in a temporary directory, reporting line by line on a pipe; the daemon turns those
 * lines into LogMessage signals and properties, and on success renames the directory into
 * place, so a failed or cancelled build never leaves an image behind. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "build-dbus.h"
#include "log.h"
#include "build.h"
#include "confine.h"
#include "transfer.h"
#include "errors.h"
#include "image-dbus.h"
#include "image.h"
#include "recipe.h"
#include "source-git.h"
#include "store.h"

static const char *const build_state_table[_BUILD_STATE_MAX] = {
        [BUILD_RUNNING] = "running",
        [BUILD_SUCCEEDED] = "succeeded",
        [BUILD_FAILED] = "failed",
        [BUILD_CANCELLED] = "cancelled",
};
DEFINE_STRING_TABLE_LOOKUP(build_state, BuildState);

#define BUILD_RETENTION_USEC_DEFAULT (10 * 60 * USEC_PER_SEC)

bool build_relative_path_is_valid(const char *p) {
        if (!p || !*p || p[0] == '/' || strlen(p) > 1024 || !g_utf8_validate(p, -1, NULL))
                return false;
        if (path_has_dotdot(p))
                return false;
        for (const char *c = p; *c; c++)
                if ((unsigned char) *c < 0x20)
                        return false;
        return true;
}

char *build_object_path(const Build *b) {
        return g_strdup_printf("/org/containers/Manager/build/_%u", b->id);
}

Build *build_free(Build *b) {
        if (!b)
                return NULL;
        for (guint i = 0; i < b->waiters->len; i++) {
                sd_bus_message *msg = g_ptr_array_index(b->waiters, i);
                (void) sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_FAILED, "The build went away");
                sd_bus_message_unref(msg);
        }
        g_ptr_array_unref(b->waiters);
        if (b->worker)
                worker_cancel(b->worker);
        if (b->tmpdir)
                (void) rm_rf(b->tmpdir);
        sd_event_source_disable_unref(b->expire_source);
        g_ptr_array_unref(b->log);
        g_free(b->name);
        g_free(b->url);
        g_free(b->branch);
        g_free(b->subdir);
        g_free(b->run_file);
        g_free(b->base);
        g_free(b->commit);
        g_free(b->error);
        g_free(b->error_name);
        g_free(b->tmpdir);
        g_free(b);
        return NULL;
}

bool manager_build_pending_for(Manager *m, const char *name) {
        GHashTableIter it;
        Build *b;

        g_hash_table_iter_init(&it, m->builds);
        while (g_hash_table_iter_next(&it, NULL, (void **) &b))
                if (b->state == BUILD_RUNNING && streq(b->name, name))
                        return true;
        return false;
}

/* ---- in the worker process -------------------------------------------------------------- */

typedef struct WorkerOut {
        FILE *f;
        double last;
} WorkerOut;

static void out_line(WorkerOut *o, const char *prefix, const char *text) {
        /* One protocol line per message: newlines inside would split it. */
        g_autofree char *clean = g_strdup(text);
        g_strdelimit(clean, "\r\n", ' ');
        fprintf(o->f, "%s %s\n", prefix, clean);
        fflush(o->f);
}

static void on_fetch_progress(const char *line, double fraction, void *userdata) {
        WorkerOut *o = userdata;

        out_line(o, "LOG", line);
        /* Fetching and checking out is most of the work: 0..0.9 of the build. */
        fprintf(o->f, "PROGRESS %.4f\n", fraction * 0.9);
        fflush(o->f);
}

static _Noreturn void worker_fail(WorkerOut *o, const char *error_name, const char *message) {
        fprintf(o->f, "FAIL %s ", error_name);
        out_line(o, "", message);
        fclose(o->f);
        _exit(EXIT_FAILURE);
}

static char *sha256_of_file(int dir_fd, const char *relpath) {
        _cleanup_close_ int fd = recipe_open_beneath(dir_fd, relpath, true);
        g_autoptr(GChecksum) sum = NULL;
        uint8_t buf[4096];
        ssize_t n;

        if (fd < 0)
                return NULL;
        sum = g_checksum_new(G_CHECKSUM_SHA256);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                g_checksum_update(sum, buf, n);
        return n < 0 ? NULL : g_strdup(g_checksum_get_string(sum));
}

static int build_worker(int fd, void *data) {
        Build *b = data; /* our copy of the daemon's memory, taken at fork() */
        Manager *m = b->manager;
        WorkerOut o = { .f = fdopen(fd, "w") };
        g_autofree char *src = g_build_filename(b->tmpdir, "src", NULL);
        g_autofree char *project = NULL, *commit = NULL, *error = NULL, *layer = NULL, *target = NULL,
                *parent = NULL, *digest = NULL, *cmdline = NULL;
        _cleanup_(recipe_freep) Recipe *recipe = NULL;
        _cleanup_close_ int project_fd = -1, src_fd = -1;
        SourceGitLimits limits = {};
        Image *base, image = {};
        int r;

        if (!o.f)
                _exit(EXIT_FAILURE);
        /* Before the first byte from the server (confine.h): what writing the checkout takes. */
        r = confine_apply(CONFINE_CAPS_STORE);
        if (r < 0)
                worker_fail(&o, CM_ERROR_BUILD_FAILED, "Cannot confine the build");
        limits.max_bytes = m->build_max_bytes;
        limits.timeout_usec = m->build_timeout_usec;
        limits.max_files = m->build_max_files;
        limits.refuse_local_hosts = !b->allow_local;    /* allow_local: the caller is root */

        r = source_git_fetch(b->url, b->branch, b->allow_local, src, &limits, on_fetch_progress, &o, &commit, &error);
        if (r < 0)
                worker_fail(&o, CM_ERROR_BUILD_FAILED, error ?: g_strerror(-r));
        fprintf(o.f, "COMMIT %s\n", commit);

        /* The project folder and Run.yaml must lie inside the checkout, reached without symlinks. */
        src_fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src_fd < 0)
                worker_fail(&o, CM_ERROR_BUILD_FAILED, "The checkout disappeared");
        if (b->subdir) {
                project_fd = recipe_open_beneath(src_fd, b->subdir, true);
                struct stat st;
                if (project_fd < 0 || fstat(project_fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        g_autofree char *e = g_strdup_printf("Project folder '%s' does not exist in %s at %s "
                                                             "(or is not a plain directory)", b->subdir, b->url, commit);
                        worker_fail(&o, CM_ERROR_BUILD_FAILED, e);
                }
                project = g_build_filename(src, b->subdir, NULL);
        } else {
                project_fd = TAKE_FD(src_fd);
                project = g_strdup(src);
        }

        r = recipe_load(project_fd, b->run_file, &recipe, &error);
        if (r < 0)
                worker_fail(&o, CM_ERROR_INVALID_RUN_FILE, error ?: g_strerror(-r));

        base = manager_get_image(m, recipe->base);
        if (!base || !base->is_base) {
                g_autofree char *e = g_strdup_printf("%s: Base '%s' is not a base of this host", b->run_file, recipe->base);
                worker_fail(&o, CM_ERROR_NO_SUCH_BASE, e);
        }
        if (!image_is_usable(base)) {
                g_autofree char *e = g_strdup_printf("%s: Base '%s' cannot be used on this host (it needs %s)", b->run_file,
                                                     recipe->base, base->requires ? base->requires[0] : "more");
                worker_fail(&o, CM_ERROR_NO_SUCH_BASE, e);
        }
        cmdline = g_strjoinv(" ", recipe->command);
        {
                g_autofree char *l = g_strdup_printf("%s: base %s, command %s, working directory %s", b->run_file,
                                                     recipe->base, cmdline, recipe->working_directory);
                out_line(&o, "LOG", l);
        }
        digest = sha256_of_file(project_fd, b->run_file);

        /* The project folder becomes the application layer at the working directory. */
        layer = g_build_filename(b->tmpdir, "layer", NULL);
        target = g_build_filename(layer, recipe->working_directory, NULL);
        parent = g_path_get_dirname(target);
        r = mkdir_p(parent, 0755);
        if (r < 0 || rename(project, target) < 0)
                worker_fail(&o, CM_ERROR_BUILD_FAILED, "Cannot lay out the application layer");
        (void) chmod(target, 0755);
        (void) rm_rf(src);

        image = (Image) {
                .name = b->name,
                .base = recipe->base,
                .command = recipe->command,
                .environment = recipe->environment,
                .working_directory = recipe->working_directory,
                .url = b->url,
                .branch = b->branch,
                .subdir = b->subdir,
                .commit = commit,
                .run_digest = digest,
                .created_usec = now_usec(CLOCK_REALTIME),
        };
        r = store_save_image(&image, b->tmpdir);
        if (r < 0)
                worker_fail(&o, CM_ERROR_BUILD_FAILED, "Cannot write the image's metadata");
        fprintf(o.f, "PROGRESS 0.95\nDONE\n");
        fclose(o.f);
        return EXIT_SUCCESS;
}

/* ---- in the daemon ---------------------------------------------------------------------------- */

static void build_append_log(Build *b, const char *line) {
        g_ptr_array_add(b->log, g_strdup(line));
        build_send_log_message(b, line);
}

static void build_schedule_expiry(Build *b);

static void build_finish(Build *b, BuildState state, const char *error_name, const char *error) {
        Manager *m = b->manager;
        bool success = state == BUILD_SUCCEEDED;

        b->state = state;
        b->finished_usec = now_usec(CLOCK_REALTIME);
        if (!success) {
                g_free(b->error);
                b->error = g_strdup(error);
                g_free(b->error_name);
                b->error_name = g_strdup(error_name);
                build_append_log(b, error);
        } else
                b->progress = 1.0;
        if (b->tmpdir) {
                /* A cancelled big checkout must not stall the bus loop: delete it in a worker. */
                (void) manager_remove_tree(m, b->tmpdir);
                g_clear_pointer(&b->tmpdir, g_free);
        }
        (void) log_internal(success ? LOG_INFO : LOG_WARNING, 0, "Build %u of image %s %s%s%s", b->id, b->name,
                            build_state_to_string(state), error ? ": " : "", error ?: "");

        build_send_changed(b);
        build_send_completed(b, success, success ? "Image ready" : error);

        for (guint i = 0; i < b->waiters->len; i++) {
                sd_bus_message *msg = g_ptr_array_index(b->waiters, i);
                (void) build_reply_wait(b, msg);
                sd_bus_message_unref(msg);
        }
        g_ptr_array_set_size(b->waiters, 0);
        build_schedule_expiry(b);
        manager_note_activity(m);
}

static int build_install_image(Build *b) {
        Manager *m = b->manager;
        g_autofree char *dir = manager_image_dir(m, b->name);
        Image *i = NULL;
        int r;

        if (manager_get_image(m, b->name))
                return -EEXIST;
        if (rename(b->tmpdir, dir) < 0)
                return -errno;
        g_clear_pointer(&b->tmpdir, g_free);

        r = store_load_image(m, dir, &i);
        if (r < 0) {
                (void) rm_rf(dir);
                return r;
        }
        g_hash_table_insert(m->images, i->name, i);
        image_send_new(i);
        return 0;
}

static void on_build_line(Worker *w, const char *line, void *userdata) {
        Build *b = userdata;

        if (g_str_has_prefix(line, "LOG "))
                build_append_log(b, line + 4);
        else if (g_str_has_prefix(line, "PROGRESS ")) {
                double p = g_ascii_strtod(line + 9, NULL);
                if (isfinite(p) && p > b->progress && p <= 1.0) {
                        b->progress = p;
                        build_send_progress(b);
                }
        } else if (g_str_has_prefix(line, "COMMIT ")) {
                g_free(b->commit);
                b->commit = g_strdup(line + 7);
                build_send_changed(b);
        } else if (g_str_has_prefix(line, "FAIL ")) {
                /* Finished once the worker has exited and nothing writes to tmpdir any more. */
                g_auto(GStrv) parts = g_strsplit(line + 5, " ", 2);
                if (parts[0] && parts[1] && !b->error) {
                        b->error_name = g_strdup(parts[0]);
                        b->error = g_strdup(g_strstrip(parts[1]));
                }
        } else if (streq(line, "DONE"))
                b->worker_done = true;
}

static void on_build_done(Worker *w, const char *output, size_t size, int status, void *userdata) {
        Build *b = userdata;
        int r;

        b->worker = NULL;
        if (b->state != BUILD_RUNNING)
                return;
        if (status != 0 || !b->worker_done) {
                g_autofree char *name = TAKE_PTR(b->error_name), *error = TAKE_PTR(b->error);
                build_finish(b, BUILD_FAILED, name ?: CM_ERROR_BUILD_FAILED, error ?: "The build worker failed");
                return;
        }
        r = build_install_image(b);
        if (r == -EEXIST) {
                g_autofree char *e = g_strdup_printf("Image '%s' appeared meanwhile", b->name);
                build_finish(b, BUILD_FAILED, CM_ERROR_IMAGE_EXISTS, e);
                return;
        }
        if (r < 0) {
                g_autofree char *e = g_strdup_printf("Cannot install image '%s': %s", b->name, g_strerror(-r));
                build_finish(b, BUILD_FAILED, CM_ERROR_BUILD_FAILED, e);
                return;
        }
        {
                g_autofree char *l = g_strdup_printf("Image %s ready", b->name);
                build_append_log(b, l);
        }
        build_finish(b, BUILD_SUCCEEDED, NULL, NULL);
}

static int on_expire(sd_event_source *s, uint64_t usec, void *userdata) {
        Build *b = userdata;
        Manager *m = b->manager;

        build_send_removed(b);
        g_hash_table_remove(m->builds, GUINT_TO_POINTER(b->id));
        return 0;
}

static void build_schedule_expiry(Build *b) {
        Manager *m = b->manager;

        if (!m->event)
                return;
        (void) sd_event_add_time_relative(m->event, &b->expire_source, CLOCK_MONOTONIC,
                                          m->build_retention_usec, 0, on_expire, b);
}

int build_start(Manager *m, const BuildOptions *o, Build **ret) {
        g_autofree char *images = g_build_filename(m->state_dir, "images", NULL);
        Build *b;
        int r;

        r = mkdir_p(images, 0700);
        if (r < 0)
                return r;

        b = g_new0(Build, 1);
        b->manager = m;
        b->id = ++m->last_build_id;
        b->name = g_strdup(o->name);
        b->url = g_strdup(o->url);
        b->branch = g_strdup(isempty(o->branch) ? NULL : o->branch);
        b->subdir = g_strdup(isempty(o->subdir) ? NULL : o->subdir);
        b->run_file = g_strdup(o->run_file ?: "Run.yaml");
        b->allow_local = o->allow_local;
        b->pull = o->pull;
        b->tls_verify = o->tls_verify;
        b->base = g_strdup(o->base);
        b->state = BUILD_RUNNING;
        b->log = g_ptr_array_new_with_free_func(g_free);
        b->waiters = g_ptr_array_new();
        b->started_usec = now_usec(CLOCK_REALTIME);
        b->tmpdir = g_strdup_printf("%s/.build-%u-XXXXXX", images, b->id);
        if (!g_mkdtemp_full(b->tmpdir, 0755)) {
                r = -errno;
                g_clear_pointer(&b->tmpdir, g_free);
                build_free(b);
                return r;
        }

        r = worker_spawn_lines(m, b->pull ? "containers-manager pull" : "containers-manager build",
                               b->pull ? transfer_pull_worker : build_worker, b, on_build_line, on_build_done, b, &b->worker);
        if (r < 0) {
                build_free(b);
                return r;
        }
        g_hash_table_insert(m->builds, GUINT_TO_POINTER(b->id), b);
        build_send_new(b);
        *ret = b;
        return 0;
}

int build_cancel(Build *b) {
        if (b->state != BUILD_RUNNING)
                return -EALREADY;
        /* The worker's own fetch child dies with it (PR_SET_PDEATHSIG). */
        if (b->worker) {
                worker_cancel(b->worker);
                b->worker = NULL;
        }
        build_finish(b, BUILD_CANCELLED, NULL, "Build cancelled");
        return 0;
}
