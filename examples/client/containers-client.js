#!/usr/bin/gjs
// An example client of libcontainers-manager from GJS (the same program is in C and Python
// beside it).
//
//   containers-client.js list                  every container and image
//   containers-client.js watch NAME STATE      print NAME's state changes until it is STATE
//   containers-client.js start|stop NAME
//   containers-client.js build NAME URL [BRANCH]   build an image, printing progress and log lines
//
// Errors print "error NAME MESSAGE" (NAME: the D-Bus error name) and exit 1.

imports.gi.versions.ContainersManager = '1.0';
const { ContainersManager: CM, Gio, GLib } = imports.gi;
const System = imports.system;

function fail(e) {
    const name = Gio.DBusError.get_remote_error(e) || '-';
    // the message without its "GDBus.Error:NAME: " prefix
    print(`error ${name} ${e.message.replace(`GDBus.Error:${name}: `, '')}`);
    return 1;
}

function container(client, name) {
    const c = client.get_container(name);
    if (!c) {
        print(`error org.containers.Error.NoSuchContainer ${name}`);
        System.exit(1);
    }
    return c;
}

function list(client) {
    for (const c of client.get_containers())
        print(`container ${c.name} ${c.image} ${c.state}`);
    for (const i of client.get_images())
        print(`image ${i.name} ${i.base}`);
    return 0;
}

function watch(client, name, target) {
    const c = container(client, name);
    const loop = new GLib.MainLoop(null, false);
    c.connect('notify::state', () => {
        print(`state ${c.state}`);
        if (c.state === target)
            loop.quit();
    });
    print(`watching ${name} ${c.state}`);
    if (c.state !== target)
        loop.run();
    return 0;
}

function startStop(client, verb, name) {
    const c = container(client, name);
    try {
        if (verb === 'start')
            c.call_start_sync(null);
        else
            c.call_stop_sync(null);
    } catch (e) {
        return fail(e);
    }
    client.settle();
    print(`${name} ${c.state}`);
    return 0;
}

function build(client, name, url, branch) {
    const opts = branch ? { branch: new GLib.Variant('s', branch) } : {};
    let path;
    try {
        [, path] = client.get_manager().call_build_sync(name, url, new GLib.Variant('a{sv}', opts), null);
    } catch (e) {
        return fail(e);
    }
    print(`build ${path}`);
    const loop = new GLib.MainLoop(null, false);
    let success = false;
    // The build object comes with the service's InterfacesAdded, dispatched (in order, before
    // its LogMessage signals) once the main loop runs.
    client.get_object_manager().connect('object-added', (_om, obj) => {
        const b = obj.get_object_path() === path ? obj.get_build() : null;
        if (!b)
            return;
        b.connect('notify::progress', () => print(`progress ${b.progress.toFixed(2)}`));
        b.connect('log-message', (_b, line) => print(`log ${line}`));
        b.connect('completed', (_b, ok, message) => {
            print(`completed ${ok} ${message}`);
            success = ok;
            loop.quit();
        });
    });
    loop.run();
    return success ? 0 : 1;
}

function main(argv) {
    let client;
    try {
        client = CM.Client.new_sync(null);
    } catch (e) {
        return fail(e);
    }
    if (argv[0] === 'list')
        return list(client);
    if (argv[0] === 'watch' && argv.length === 3)
        return watch(client, argv[1], argv[2]);
    if ((argv[0] === 'start' || argv[0] === 'stop') && argv.length === 2)
        return startStop(client, argv[0], argv[1]);
    if (argv[0] === 'build' && (argv.length === 3 || argv.length === 4))
        return build(client, argv[1], argv[2], argv[3]);
    printerr('usage: containers-client.js list | watch NAME STATE | start NAME | stop NAME | build NAME URL [BRANCH]');
    return 2;
}

System.exit(main(ARGV));
