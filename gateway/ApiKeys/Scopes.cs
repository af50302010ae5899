namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>
/// The scopes of docs/api.md#scopes-and-roles, <c>&lt;resource&gt;:read|write</c>. A route declares the resource it serves;
/// the method decides whether reading or writing it is asked.
/// </summary>
public static class Scopes
{
    public const string PostsRead = "posts:read";
    public const string PostsWrite = "posts:write";

    /// <summary>Schedule without approval where the workspace requires it, and approve or decline posts (owners and admins).</summary>
    public const string PostsApprove = "posts:approve";

    public const string AccountsRead = "accounts:read";
    public const string AccountsWrite = "accounts:write";
    public const string WebhooksRead = "webhooks:read";
    public const string WebhooksWrite = "webhooks:write";
    public const string KeysWrite = "keys:write";

    /// <summary>The workspace's scheduling settings (publish lead, cancel cutoff): they change every post's timing.</summary>
    public const string SettingsRead = "settings:read";
    public const string SettingsWrite = "settings:write";

    public static readonly IReadOnlyList<string> All =
        [PostsRead, PostsWrite, PostsApprove, AccountsRead, AccountsWrite, WebhooksRead, WebhooksWrite, KeysWrite, SettingsRead, SettingsWrite];

    /// <summary>The resources a route may declare: those some scope names.</summary>
    public static readonly IReadOnlyList<string> Resources = [.. All.Select(s => s[..s.IndexOf(':', StringComparison.Ordinal)]).Distinct()];

    /// <summary>
    /// GET and HEAD read a resource; every other method writes it. A resource without a read scope (<c>keys</c>:
    /// listing keys is managing them) needs its write scope for everything.
    /// </summary>
    public static string Required(string resource, HttpRequest request)
    {
        if (ServiceDefaults.Errors.GrpcErrors.IsGrpc(request))
        {
            // gRPC calls are all POSTs: the method's name says (AIP: Get and List read, the rest write).
            string method = request.Path.Value?[(request.Path.Value.LastIndexOf('/') + 1)..] ?? "";
            bool reads = method.StartsWith("Get", StringComparison.Ordinal) || method.StartsWith("List", StringComparison.Ordinal);
            return reads && All.Contains($"{resource}:read") ? $"{resource}:read" : $"{resource}:write";
        }

        return Required(resource, request.Method);
    }

    public static string Required(string resource, string method)
    {
        string read = $"{resource}:read";
        return (HttpMethods.IsGet(method) || HttpMethods.IsHead(method)) && All.Contains(read) ? read : $"{resource}:write";
    }
}
