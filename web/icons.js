// The few icons the client shows, as inline SVG built with the DOM (no emoji: not every system has an emoji
// font, and no icon font or image request). Strokes follow the text colour.

const SVG = 'http://www.w3.org/2000/svg';

/** 24×24 outlines: each entry is a list of path `d` strings. */
const PATHS = {
  chat: ['M4 5h16v11H10l-6 4z'],
  video: ['M3 7h12v10H3z', 'M15 10.5l6-3.5v10l-6-3.5'],
  bell: ['M6 16v-5a6 6 0 0 1 12 0v5l2 2H4z', 'M10 21a2 2 0 0 0 4 0'],
  lock: ['M5 11h14v10H5z', 'M8 11V7a4 4 0 0 1 8 0v4'],
  check: ['M5 12.5l4 4L19 6.5'],
  checks: ['M2 12.5l4 4L16 6.5', 'M10 15.5l1 1L21 6.5'],
  clock: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18', 'M12 7v5l3 2'],
  alert: ['M12 3l10 18H2z', 'M12 10v5', 'M12 18v.5'],
  ban: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18', 'M5.6 5.6l12.8 12.8'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  people: ['M9 11a3.5 3.5 0 1 0 0-7a3.5 3.5 0 1 0 0 7', 'M2.5 20a6.5 6.5 0 0 1 13 0', 'M16 4.5a3.5 3.5 0 0 1 0 6.5', 'M18 14a6.5 6.5 0 0 1 3.5 6'],
};

/** An icon element; `label` makes it announced by screen readers, otherwise it is decorative. */
export function icon(name, label = null) {
  const svg = document.createElementNS(SVG, 'svg');
  for (const [attr, value] of Object.entries({
    viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': '2',
    'stroke-linecap': 'round', 'stroke-linejoin': 'round', class: `icon icon-${name}`,
  })) svg.setAttribute(attr, value);
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
  } else {
    svg.setAttribute('aria-hidden', 'true');
  }
  for (const d of PATHS[name]) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}
