/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* containerctl: what every verb shares. Global options (arg_*) are set by main() and by each
 * verb's argument parser (they are accepted before and after the verb), read everywhere. */

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "macro.h"

#define BUS_NAME "org.containers.Manager"
#define MANAGER_PATH "/org/containers/Manager"
#define MANAGER_IFACE "org.containers.Manager"
#define CONTAINER_IFACE "org.containers.Container"
#define IMAGE_IFACE "org.containers.Image"
#define BUILD_IFACE "org.containers.Build"

/* No reply takes longer than this; long operations (build, export, import, migrate) wait
 * without a limit of their own, as systemctl does for jobs. */
#define CALL_TIMEOUT_USEC (UINT64_C(3600) * 1000000)

typedef enum JsonMode {
        JSON_OFF,
        JSON_SHORT,
        JSON_PRETTY,
} JsonMode;

extern const char *arg_host;
extern JsonMode arg_json;
extern bool arg_legend;
extern bool arg_pager;
extern bool arg_ask_password;
extern bool arg_quiet;

/* A usage error (exit status 2), told apart from the errnos that failed calls map to. */
#define EUSAGE 10000
int log_usage(const char *fmt, ...) _printf_(1, 2);

/* bus.c */
int bus_connect(sd_bus **ret);
int bus_log_error(const sd_bus_error *error, int r, const char *what, ...) _printf_(3, 4);
int bus_container_path(sd_bus *bus, const char *name, char **ret);
int bus_call(sd_bus *bus, const char *path, const char *iface, const char *member,
             sd_bus_message **reply, const char *what, const char *types, ...);
int bus_call_container(sd_bus *bus, const char *name, const char *member, sd_bus_message **reply,
                       const char *what, const char *types, ...);
int bus_message_new_call(sd_bus *bus, sd_bus_message **ret, const char *path, const char *iface,
                         const char *member);
int bus_call_message(sd_bus *bus, sd_bus_message *m, sd_bus_message **reply, const char *what, ...) _printf_(4, 5);
int bus_append_env(sd_bus_message *m, char **env);
/* One entry of an a{sv} option dictionary: KEY as "as", or KEY as "a{ss}" from NAME=VALUE strings. */
int bus_append_option_strv(sd_bus_message *m, const char *key, char **strv);
int bus_append_option_env(sd_bus_message *m, const char *key, char **env);
int log_oom(void);
int log_error_errno(int r, const char *fmt, ...) _printf_(2, 3);

/* polkit-agent.c */
void polkit_agent_open_if_enabled(void);
void polkit_agent_close(void);

/* strv helpers (util.c) */
size_t strv_length(char **l);
int strv_push(char ***l, const char *s);
int parse_size(const char *s, uint64_t *ret);
char *format_timestamp(char *buf, size_t n, uint64_t usec);
char *format_timespan(char *buf, size_t n, uint64_t usec);
char *format_bytes(char *buf, size_t n, uint64_t bytes);
uint64_t now_usec(int clock);
int write_all(int fd, const char *p, size_t n);   /* waits out EAGAIN and EINTR */
