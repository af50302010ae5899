namespace ScheduledPosts.ServiceDefaults.Outbound;

/// <summary>
/// Where requests to user-supplied URLs may go (<see cref="OutboundPolicy"/>). The scheduling service and the publisher
/// bind it from the <c>Outbound</c> section (Mastodon instances, future connectors); the webhooks service from its
/// <c>Webhooks</c> section (endpoint URLs). Strict by default: https to public unicast addresses only.
/// </summary>
public sealed class OutboundOptions
{
    /// <summary>The section of the connectors' policy (scheduling service and publisher).</summary>
    public const string Section = "Outbound";

    /// <summary>Accept <c>http://</c> URLs (development, tests).</summary>
    public bool AllowHttp { get; set; }

    /// <summary>Accept loopback targets (127.0.0.0/8, ::1): the dev stack's fakes. Shorthand for adding them to <see cref="AllowedNetworks"/>.</summary>
    public bool AllowLoopback { get; set; }

    /// <summary>
    /// The allow-list: non-public networks (CIDR, e.g. <c>10.20.0.0/16</c>) that may be targeted anyway. Everything
    /// else that is not a public unicast address is refused, when the URL is accepted and again when connecting.
    /// </summary>
    public string[] AllowedNetworks { get; set; } = [];
}
