using System.Net;
using System.Net.Sockets;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Webhooks.Endpoints;

/// <summary>What an endpoint may look like: pure rules, checked on create and (the address part) again at send time.</summary>
public static class EndpointRules
{
    public const int MaxUrlLength = 2048;
    public const int MaxDescriptionLength = 1024;

    public static IReadOnlyList<ValidationIssue> Validate(string? url, IReadOnlyList<string>? events, string? description, WebhookOptions options)
    {
        var issues = new List<ValidationIssue>();
        if (CheckUrl(url, options) is { } urlProblem)
        {
            issues.Add(new ValidationIssue("url", urlProblem));
        }

        if (events is null || events.Count == 0)
        {
            issues.Add(new ValidationIssue("events", "events must list at least one event type, or \"*\"."));
        }
        else
        {
            for (int i = 0; i < events.Count; i++)
            {
                if (events[i] != EventTypes.All && !EventTypes.Known.Contains(events[i]))
                {
                    issues.Add(new ValidationIssue($"events[{i}]", $"Unknown event type '{events[i]}'."));
                }
            }
        }

        if (description is { Length: > MaxDescriptionLength })
        {
            issues.Add(new ValidationIssue("description", $"description must be at most {MaxDescriptionLength} characters."));
        }

        return issues;
    }

    /// <summary>Why <paramref name="url"/> cannot be an endpoint, or null when it can.</summary>
    public static string? CheckUrl(string? url, WebhookOptions options)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return "url is required.";
        }

        if (url.Length > MaxUrlLength)
        {
            return $"url must be at most {MaxUrlLength} characters.";
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return "url must be an absolute http(s) URL.";
        }

        if (uri.Scheme == Uri.UriSchemeHttp && !options.AllowHttp)
        {
            return "url must use https.";
        }

        if (!options.AllowLoopback && !IsPublicHost(uri))
        {
            return "url must not point to a loopback, private or link-local address.";
        }

        return null;
    }

    // Names other than localhost are resolved and checked at send time, against DNS rebinding.
    private static bool IsPublicHost(Uri uri)
    {
        string host = uri.DnsSafeHost;
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return !IPAddress.TryParse(host, out var address) || IsPublic(address);
    }

    /// <summary>False for loopback, private, link-local, shared (CGNAT), unspecified and multicast addresses.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            byte[] b = address.GetAddressBytes();
            return !(b[0] is 0 or 10 or 127 or >= 224                 // this network, private, loopback, multicast and reserved
                     || (b[0] == 100 && (b[1] & 0xC0) == 64)          // 100.64.0.0/10 shared address space
                     || (b[0] == 169 && b[1] == 254)                  // link-local (cloud metadata lives here)
                     || (b[0] == 172 && (b[1] & 0xF0) == 16)          // 172.16.0.0/12
                     || (b[0] == 192 && b[1] == 168)                  // 192.168.0.0/16
                     || (b[0] == 192 && b[1] == 0 && b[2] == 0));     // IETF protocol assignments
        }

        return !(address.Equals(IPAddress.IPv6Any) || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal
                 || address.IsIPv6UniqueLocal || address.IsIPv6Multicast);
    }
}
