using System.Net;
using System.Net.Sockets;

namespace ScheduledPosts.ServiceDefaults.Outbound;

/// <summary>
/// The SSRF guard, one for every user-supplied URL (webhook endpoints, Mastodon instances, future connectors): http(s)
/// only, https unless <see cref="OutboundOptions.AllowHttp"/>; no credentials in the URL; public unicast addresses,
/// plus the configured allow-list. Checked when the URL is accepted (<see cref="CheckUrl"/>, <see cref="CheckResolvedAsync"/>)
/// and again when connecting, on the addresses the name resolves to then (<see cref="OutboundConnector"/>, which
/// <see cref="OutboundHttp.UseOutboundPolicy"/> installs together with "no redirects, no proxy").
/// </summary>
public sealed class OutboundPolicy
{
    /// <summary>The longest URL accepted.</summary>
    public const int MaxUrlLength = 2048;

    private static readonly IPNetwork[] LoopbackNetworks = [IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128")];

    // How long accepting a URL waits for its host name to resolve; an unresolvable name is checked when connecting.
    private static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(2);

    private readonly IPNetwork[] _allowed;

    public OutboundPolicy(OutboundOptions options)
    {
        AllowHttp = options.AllowHttp;
        _allowed = [.. options.AllowedNetworks.Select(IPNetwork.Parse), .. options.AllowLoopback ? LoopbackNetworks : []];
    }

    public bool AllowHttp { get; }

    /// <summary>Whether the allow-list entries parse as CIDR networks (validated at start-up).</summary>
    public static bool AreValidNetworks(IEnumerable<string>? networks) => networks is null || networks.All(n => IPNetwork.TryParse(n, out _));

    public bool Allows(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return IsPublic(address) || _allowed.Any(n => n.Contains(address));
    }

    /// <summary>
    /// Why <paramref name="url"/> may not be requested (without resolving its name), or null when it may.
    /// <paramref name="name"/> is how messages call it (<c>url</c>, <c>credentials.instanceUrl</c>).
    /// </summary>
    public string? CheckUrl(string? url, string name = "url")
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return $"{name} is required.";
        }

        if (url.Length > MaxUrlLength)
        {
            return $"{name} must be at most {MaxUrlLength} characters.";
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return $"{name} must be an absolute http(s) URL.";
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return $"{name} must not carry credentials.";
        }

        if (uri.Scheme == Uri.UriSchemeHttp && !AllowHttp)
        {
            return $"{name} must use https.";
        }

        string host = HostOf(uri);
        if (IPAddress.TryParse(host, out var literal))
        {
            return Allows(literal) ? null : NotPublic(name);
        }

        // RFC 6761: localhost names are loopback whatever DNS says.
        bool isLocalhost = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase);
        return isLocalhost && !Allows(IPAddress.Loopback) ? NotPublic(name) : null;
    }

    /// <summary>
    /// Resolves the URL's host name (if it is one) and refuses it when it points somewhere not allowed. A name that
    /// does not resolve now is accepted: the connect-time check sees the addresses it resolves to then.
    /// </summary>
    public async Task<string?> CheckResolvedAsync(string url, string name, CancellationToken ct)
    {
        string host = HostOf(new Uri(url));
        if (IPAddress.TryParse(host, out _))
        {
            return null;
        }

        IPAddress[] addresses;
        try
        {
            addresses = await Dns.GetHostAddressesAsync(host, ct).WaitAsync(ResolveTimeout, ct);
        }
        catch (Exception e) when (e is SocketException or TimeoutException or ArgumentException)
        {
            return null;
        }

        return addresses.All(Allows) ? null : $"{name}'s host {host} resolves to a loopback, private, link-local or otherwise non-public address.";
    }

    /// <summary>The host as the connection will see it: without IPv6 brackets or a trailing root dot.</summary>
    public static string HostOf(Uri uri) => uri.DnsSafeHost.Trim('[', ']').TrimEnd('.');

    private static string NotPublic(string name) => $"{name} must not point to a loopback, private, link-local, multicast or metadata address.";

    /// <summary>
    /// False for loopback, private, link-local (cloud metadata lives there), shared (CGNAT), benchmark, documentation,
    /// unspecified, multicast and reserved addresses, also when embedded in an IPv6 address (mapped, compatible, NAT64, 6to4).
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        byte[] b = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return IsPublicV4(b);
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        if (b.AsSpan(0, 10).IndexOfAnyExcept((byte)0) < 0 && ((b[10] == 0 && b[11] == 0) || (b[10] == 0xFF && b[11] == 0xFF)))
        {
            return IsPublicV4(b[12..]); // ::a.b.c.d (also :: and ::1) and ::ffff:a.b.c.d
        }

        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0)
        {
            return IsPublicV4(b[12..]); // 64:ff9b::/96 NAT64
        }

        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return IsPublicV4(b[2..6]); // 2002::/16 6to4
        }

        return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal || address.IsIPv6Multicast);
    }

    private static bool IsPublicV4(byte[] b)
        => !(b[0] is 0 or 10 or 127 or >= 224                 // this network, private, loopback, multicast, reserved, broadcast
             || (b[0] == 100 && (b[1] & 0xC0) == 64)          // 100.64.0.0/10 shared address space (and Alibaba's metadata)
             || (b[0] == 169 && b[1] == 254)                  // link-local: AWS, Azure and GCP metadata
             || (b[0] == 172 && (b[1] & 0xF0) == 16)          // 172.16.0.0/12
             || (b[0] == 192 && b[1] == 168)                  // 192.168.0.0/16
             || (b[0] == 192 && b[1] == 0 && b[2] is 0 or 2)  // IETF protocol assignments (Oracle's metadata), documentation
             || (b[0] == 198 && (b[1] & 0xFE) == 18)          // 198.18.0.0/15 benchmarking
             || (b[0] == 198 && b[1] == 51 && b[2] == 100)    // documentation
             || (b[0] == 203 && b[1] == 0 && b[2] == 113));   // documentation
}
