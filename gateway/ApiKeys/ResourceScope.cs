namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>
/// Endpoint metadata naming the resource an endpoint serves (<c>posts</c>, <c>accounts</c>, …): the caller's key
/// needs <c>&lt;resource&gt;:read</c> to read it and <c>&lt;resource&gt;:write</c> to change it.
/// Proxied routes get it from their <c>Metadata.Resource</c> in configuration.
/// </summary>
public sealed record ResourceScope(string Resource)
{
    /// <summary>The key of a proxy route's metadata that names its resource.</summary>
    public const string MetadataKey = "Resource";
}
