// Header lists: every occurrence from rawHeaders, list elements trimmed of SP/HTAB only, Connection options lowercased.
import t from 'tap';
import { connectionOptions, rawHeaderValues } from '../../../src/codecs/http/header-lists.js';

t.test('rawHeaderValues keeps every occurrence, any case of the name, in order', async (t) => {
  t.same(rawHeaderValues(['Authorization', 'Bearer a', 'Host', 'x', 'authorization', 'Bearer b'], 'authorization'), ['Bearer a', 'Bearer b']);
  t.same(rawHeaderValues(['Host', 'x'], 'authorization'), []);
  t.same(rawHeaderValues(['Dangling'], 'dangling'), [], 'a name without a value is not a value');
});

t.test('connectionOptions: comma lists across lines, trimmed, lowercased, empties dropped', async (t) => {
  t.same([...connectionOptions('Upgrade, Keep-Alive')], ['upgrade', 'keep-alive']);
  t.same([...connectionOptions(['close', ' ,X-Custom\t,'])], ['close', 'x-custom']);
  t.same([...connectionOptions(undefined)], []);
  t.same([...connectionOptions('\u00a0upgrade')], ['\u00a0upgrade'], 'only SP and HTAB are list whitespace');
});
