/*
 * harness.c: drives Pidgin's real GroupWise client code (libpurple's
 * prpl-novell) against the collabgw GroupWise simulator.
 *
 * It signs one account on, sends one IM to a peer, waits for an IM back
 * that contains the expected text, and exits:
 *   0  signed on, sent, and received the expected reply
 *   2  libpurple reported a connection error (sign-on failed or dropped)
 *   3  nothing conclusive before the timeout
 *   4  bad arguments or libpurple could not start
 * Every step is printed as a "harness: ..." line for the Go test to show.
 *
 * Build: gcc harness.c $(pkg-config --cflags --libs purple glib-2.0)
 */
#include <purple.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UI_NAME "collabgw-harness"

static struct {
	gchar *userdir, *server, *user, *password, *peer, *send, *expect;
	gint port, timeout;
	gboolean debug;
} opt = { .port = 8300, .timeout = 20 };

static PurpleAccount *account;
static GMainLoop *loop;
static int exit_status = 3;

static void finish(int status, const char *what)
{
	exit_status = status;
	printf("harness: %s (exit %d)\n", what, status);
	fflush(stdout);
	g_main_loop_quit(loop);
}

/* libpurple asks its UI for an event loop; glib's main loop serves. A file
 * descriptor watch needs a little adapter between the two callback types. */
struct watch {
	PurpleInputFunction fn;
	gpointer data;
};

static gboolean watch_fired(GIOChannel *ch, GIOCondition cond, gpointer p)
{
	struct watch *w = p;
	PurpleInputCondition pc = 0;
	if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
		pc |= PURPLE_INPUT_READ;
	if (cond & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
		pc |= PURPLE_INPUT_WRITE;
	w->fn(w->data, g_io_channel_unix_get_fd(ch), pc);
	return TRUE;
}

static guint watch_add(gint fd, PurpleInputCondition pc, PurpleInputFunction fn, gpointer data)
{
	struct watch *w = g_new0(struct watch, 1);
	GIOCondition cond = 0;
	GIOChannel *ch;
	guint id;

	w->fn = fn;
	w->data = data;
	if (pc & PURPLE_INPUT_READ)
		cond |= G_IO_IN | G_IO_HUP | G_IO_ERR;
	if (pc & PURPLE_INPUT_WRITE)
		cond |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
	ch = g_io_channel_unix_new(fd);
	id = g_io_add_watch_full(ch, G_PRIORITY_DEFAULT, cond, watch_fired, w, g_free);
	g_io_channel_unref(ch);
	return id;
}

static PurpleEventLoopUiOps loop_ops = {
	g_timeout_add, g_source_remove, watch_add, g_source_remove,
	NULL, g_timeout_add_seconds, NULL, NULL, NULL,
};

static void on_signed_on(PurpleConnection *gc, gpointer unused)
{
	PurpleConversation *conv;

	printf("harness: signed on as %s\n", purple_account_get_username(account));
	conv = purple_conversation_new(PURPLE_CONV_TYPE_IM, account, opt.peer);
	purple_conv_im_send(PURPLE_CONV_IM(conv), opt.send);
	printf("harness: sent IM to %s\n", opt.peer);
	fflush(stdout);
}

static void on_received_im(PurpleAccount *acct, char *sender, char *message,
			   PurpleConversation *conv, PurpleMessageFlags flags)
{
	gchar *plain = purple_markup_strip_html(message);

	printf("harness: received IM from=%s text=%s\n", sender, plain);
	if (strstr(plain, opt.expect) != NULL)
		finish(0, "expected reply received");
	g_free(plain);
}

static void on_connection_error(PurpleConnection *gc, PurpleConnectionError err,
				const gchar *desc)
{
	gchar *what = g_strdup_printf("connection error %d: %s", err, desc);
	finish(2, what);
	g_free(what);
}

static gboolean on_timeout(gpointer unused)
{
	finish(3, "timeout");
	return FALSE;
}

int main(int argc, char **argv)
{
	GOptionEntry entries[] = {
		{ "userdir", 0, 0, G_OPTION_ARG_STRING, &opt.userdir, "purple user dir (certificates pre-seeded)", NULL },
		{ "server", 0, 0, G_OPTION_ARG_STRING, &opt.server, "GroupWise server host", NULL },
		{ "port", 0, 0, G_OPTION_ARG_INT, &opt.port, "GroupWise server port", NULL },
		{ "user", 0, 0, G_OPTION_ARG_STRING, &opt.user, "account user id", NULL },
		{ "password", 0, 0, G_OPTION_ARG_STRING, &opt.password, "account password", NULL },
		{ "peer", 0, 0, G_OPTION_ARG_STRING, &opt.peer, "user to send the IM to", NULL },
		{ "send", 0, 0, G_OPTION_ARG_STRING, &opt.send, "text to send", NULL },
		{ "expect", 0, 0, G_OPTION_ARG_STRING, &opt.expect, "text the reply must contain", NULL },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &opt.timeout, "seconds before giving up", NULL },
		{ "debug", 0, 0, G_OPTION_ARG_NONE, &opt.debug, "libpurple debug output on stderr", NULL },
		{ NULL }
	};
	GOptionContext *ctx = g_option_context_new("- Pidgin GroupWise client harness");
	GError *err = NULL;
	static int handle;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err) || !opt.userdir || !opt.server ||
	    !opt.user || !opt.password || !opt.peer || !opt.send || !opt.expect) {
		fprintf(stderr, "harness: %s\n", err ? err->message : "missing a required option");
		return 4;
	}

	loop = g_main_loop_new(NULL, FALSE);
	purple_util_set_user_dir(opt.userdir);
	purple_debug_set_enabled(opt.debug);
	purple_eventloop_set_ui_ops(&loop_ops);
	if (!purple_core_init(UI_NAME)) {
		fprintf(stderr, "harness: libpurple failed to initialise\n");
		return 4;
	}
	if (purple_find_prpl("prpl-novell") == NULL) {
		fprintf(stderr, "harness: libpurple has no prpl-novell plugin\n");
		return 4;
	}
	purple_set_blist(purple_blist_new());

	purple_signal_connect(purple_connections_get_handle(), "signed-on", &handle,
			      PURPLE_CALLBACK(on_signed_on), NULL);
	purple_signal_connect(purple_connections_get_handle(), "connection-error", &handle,
			      PURPLE_CALLBACK(on_connection_error), NULL);
	purple_signal_connect(purple_conversations_get_handle(), "received-im-msg", &handle,
			      PURPLE_CALLBACK(on_received_im), NULL);

	account = purple_account_new(opt.user, "prpl-novell");
	purple_account_set_password(account, opt.password);
	purple_account_set_string(account, "server", opt.server);
	purple_account_set_int(account, "port", opt.port);
	purple_accounts_add(account);
	purple_account_set_enabled(account, UI_NAME, TRUE);
	purple_savedstatus_activate(purple_savedstatus_new(NULL, PURPLE_STATUS_AVAILABLE));
	printf("harness: connecting %s to %s:%d\n", opt.user, opt.server, opt.port);
	fflush(stdout);

	g_timeout_add_seconds(opt.timeout, on_timeout, NULL);
	g_main_loop_run(loop);
	fflush(stdout);
	/* Skip libpurple's teardown: the verdict is in, and exit is enough. */
	return exit_status;
}
