// subsite: the board's generation, which ends the key of nginx's page cache
// (/var/lib/subsite-nginx/cache.conf: js_set $subsite_generation).
//
// The app replaces the file named by $subsite_generation_file after every
// write, and before answering it (pagecache.py in the app), so the request
// after a write asks for a key no page was stored under. nginx calls this
// once per request that uses the cache (the variable is kept for the rest of
// the request). A file that cannot be read gives the request's own id: a key
// no other request asks for, so nothing stored before is answered.
import fs from 'fs';

function read(r) {
    try {
        return fs.readFileSync(r.variables.subsite_generation_file, 'utf8').trim();
    } catch (e) {
        return 'unknown-' + r.variables.request_id;
    }
}

export default {read};
