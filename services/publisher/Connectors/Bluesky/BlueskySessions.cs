using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace ScheduledPosts.Publisher.Connectors.Bluesky;

/// <summary>
/// One Bluesky account to post as: its PDS (<c>service</c>), its handle or DID and an app password. Not a record, so
/// that no generated <c>ToString</c> ever prints the password.
/// </summary>
public sealed class BlueskyAccount(Uri service, string identifier, string appPassword)
{
    /// <summary>The PDS's base URL, with a trailing slash so a PDS served under a path keeps it.</summary>
    public Uri Service { get; } = service;

    public string Identifier { get; } = identifier;

    public string AppPassword { get; } = appPassword;

    /// <summary>How messages name the PDS (<c>bsky.social</c>).</summary>
    public string Name => Service.Authority;

    /// <summary>
    /// The key of the account's session in <see cref="BlueskySessions"/>: a hash of the PDS, the identifier and the
    /// password, so an account connected again with another password never reuses the old one's session.
    /// </summary>
    public string SessionKey
        => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Service.AbsoluteUri}\n{Identifier}\n{AppPassword}")));

    public override string ToString() => $"{Identifier} on {Name}";
}

/// <summary>A signed-in session (<c>com.atproto.server.createSession</c>'s or <c>refreshSession</c>'s answer).</summary>
public sealed class BlueskySession(string accessJwt, string refreshJwt, string did, string handle)
{
    public string AccessJwt { get; } = accessJwt;

    public string RefreshJwt { get; } = refreshJwt;

    public string Did { get; } = did;

    public string Handle { get; } = handle;

    public override string ToString() => Did;
}

/// <summary>
/// The publisher's Bluesky sessions, per account, in memory only. An app password is exchanged for a session once and
/// the session refreshed when its access token expires: Bluesky allows 30 <c>createSession</c> calls per account in
/// 5 minutes and 300 a day (https://docs.bsky.app/docs/advanced-guides/rate-limits), fewer than a busy account posts.
/// A replica that restarts signs in again. Two uploads of one account may renew at once; the later session wins, and the
/// other upload's stale one is refreshed or replaced on its next use.
/// </summary>
public sealed class BlueskySessions
{
    private readonly ConcurrentDictionary<string, BlueskySession> _sessions = new(StringComparer.Ordinal);

    public BlueskySession? Find(BlueskyAccount account) => _sessions.GetValueOrDefault(account.SessionKey);

    public void Keep(BlueskyAccount account, BlueskySession session) => _sessions[account.SessionKey] = session;

    /// <summary>Forgets the account's session if it is still <paramref name="session"/> (not one another upload made since).</summary>
    public void Forget(BlueskyAccount account, BlueskySession session)
        => _sessions.TryRemove(KeyValuePair.Create(account.SessionKey, session));
}
