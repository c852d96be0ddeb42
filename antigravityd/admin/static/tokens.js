// Refresh tokens pasted into the add-account dialog: a JSON array of strings or of {refresh_token} objects (the
// export format of the upstream tools, also {token: {refresh_token}}), or any text — every word starting with
// "1//" is taken. Duplicates are dropped, order is kept.

function fromItem(item) {
  if (typeof item === "string") return item;
  if (item && typeof item === "object") {
    if (typeof item.refresh_token === "string") return item.refresh_token;
    if (item.token && typeof item.token.refresh_token === "string") return item.token.refresh_token;
  }
  return null;
}

export function parseRefreshTokens(text) {
  const trimmed = (text || "").trim();
  const found = [];
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    try {
      const data = JSON.parse(trimmed);
      for (const item of Array.isArray(data) ? data : [data]) {
        const token = fromItem(item);
        if (token && token.trim()) found.push(token.trim());
      }
      return [...new Set(found)];
    } catch {
      // not JSON after all: read it as free text
    }
  }
  for (const word of trimmed.split(/[\s,;"'`()[\]{}<>]+/)) {
    if (word.startsWith("1//") && word.length > 3) found.push(word);
  }
  return [...new Set(found)];
}
