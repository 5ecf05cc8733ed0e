-- class: the class system of rules and dissectors (`require('class')`),
-- compatible with the original Haka 'class' module.
--
--   local class = require('class')
--   local Foo = class.class('Foo')             -- parent: BaseObject
--   local Bar = class.class('Bar', Foo)
--   function Bar.method:__init(x)
--       class.super(Bar).__init(self)
--       self.x = x
--   end
--   Bar.property.double = { get = function (self) return self.x * 2 end }
--   local b = Bar:new(21)                      -- b.double == 42
--
-- A class is a table whose metatable is ClassMeta; the class is also the
-- metatable of its instances. Raw fields of a class:
--   name, super     the class name and the parent class (BaseObject has none)
--   __method        the instance methods this class defines
--   method          write-through view of __method; reads see inherited ones
--   property        name -> { get = fn(self), set = fn(self, value) }
--   __view          read-only view of the methods, returned by class.super()
--   __index, __newindex, __tostring, __eq, __lt, __le, __len, __call,
--   __concat        metamethods of the instances
-- Any other field set on a class (Cls.x = v, function Cls.f(cls) end) is a
-- class-level field: a subclass sees it unless it sets its own.
--
-- Reading obj.k (k not a raw field of obj) looks, in order, at:
--   1. the instance's own properties (obj:addproperty(name, get, set));
--   2. for the class, then each parent: its method k, then its property
--      k's get function (the nearest class wins);
--   3. the first method named __index in the chain, called as
--      __index(obj, k) (dissectors use it to delegate to their parent).
-- Writing obj.k = v calls the nearest property setter of k, else the first
-- method named __newindex, else rawsets. A property without a setter is
-- thus shadowed by an assignment, as in the original.
--
-- Lookups are not cached: methods and properties added to a class after a
-- subclass or an instance exists are seen at once.
--
-- Metamethods are methods: define Cls.method.__tostring, __eq, __lt, __le,
-- __len, __call or __concat and instances of Cls and of its subclasses use
-- it. Without one, tostring(obj) is "<class instance Name: 0x...>", == is
-- identity, # is the raw length, and the others raise an error.
--
-- When a class is created, its parent's class-level __class_init is called
-- as parent:__class_init(newcls) (BaseObject's does nothing), so a base
-- class can register or decorate every subclass.

local class = {}

local ClassMeta = {}

local function isclass(x)
	return type(x) == 'table' and getmetatable(x) == ClassMeta
end

-- The first method named key in cls or its parents, or nil.
local function find_method(cls, key)
	local c = cls
	while c do
		local m = rawget(c, '__method')[key]
		if m ~= nil then
			return m
		end
		c = rawget(c, 'super')
	end
	return nil
end

-- Class-level fields are inherited: a miss on a class walks the parents.
function ClassMeta.__index(cls, key)
	local c = rawget(cls, 'super')
	while c do
		local v = rawget(c, key)
		if v ~= nil then
			return v
		end
		c = rawget(c, 'super')
	end
	return nil
end

function ClassMeta.__tostring(cls)
	return string.format('<class: %s>', rawget(cls, 'name'))
end

-- A view of cls's methods (inherited ones included). Writes go to
-- cls.__method when writable, and raise an error otherwise.
local function method_view(cls, writable)
	local mt = {}
	function mt.__index(_, key)
		return find_method(cls, key)
	end
	if writable then
		function mt.__newindex(_, key, value)
			rawget(cls, '__method')[key] = value
		end
	else
		function mt.__newindex()
			error('immutable class', 2)
		end
	end
	function mt.__tostring()
		return string.format('<class view: %s>', rawget(cls, 'name'))
	end
	return setmetatable({}, mt)
end

local function instance_index(cls, self, key)
	local dyn = rawget(self, '__property')
	if dyn then
		local p = dyn[key]
		if p and p.get then
			return p.get(self)
		end
	end

	local fallback
	local c = cls
	while c do
		local methods = rawget(c, '__method')
		local m = methods[key]
		if m ~= nil and key ~= '__index' and key ~= '__newindex' then
			return m
		end
		local p = rawget(c, 'property')[key]
		if p and p.get then
			return p.get(self)
		end
		if fallback == nil then
			fallback = methods.__index
		end
		c = rawget(c, 'super')
	end

	if fallback then
		return fallback(self, key)
	end
	return nil
end

local function instance_newindex(cls, self, key, value)
	local dyn = rawget(self, '__property')
	if dyn then
		local p = dyn[key]
		if p and p.set then
			return p.set(self, value)
		end
	end

	local fallback
	local c = cls
	while c do
		local p = rawget(c, 'property')[key]
		if p and p.set then
			return p.set(self, value)
		end
		if fallback == nil then
			fallback = rawget(c, '__method').__newindex
		end
		c = rawget(c, 'super')
	end

	if fallback then
		return fallback(self, key, value)
	end
	rawset(self, key, value)
end

-- The hexadecimal address of a table, without calling its __tostring.
local function address(t)
	local mt = getmetatable(t)
	setmetatable(t, nil)
	local s = tostring(t)
	setmetatable(t, mt)
	return s:match('0x%x+') or s:match(': (.*)$') or s
end

local function class_name(obj)
	local cls = getmetatable(obj)
	if isclass(cls) then
		return rawget(cls, 'name')
	end
	return type(obj)
end

-- The method of an operator: from the first operand that is a class
-- instance defining it.
local function operator(event, a, b)
	local ca, cb = getmetatable(a), getmetatable(b)
	local m = isclass(ca) and find_method(ca, event)
	if m then
		return m
	end
	return isclass(cb) and find_method(cb, event) or nil
end

-- Install the instance metamethods of cls.
local function set_metamethods(cls)
	cls.__index = function (self, key)
		return instance_index(cls, self, key)
	end
	cls.__newindex = function (self, key, value)
		return instance_newindex(cls, self, key, value)
	end
	cls.__tostring = function (self)
		local m = find_method(cls, '__tostring')
		if m then
			return m(self)
		end
		return string.format('<class instance %s: %s>',
			rawget(cls, 'name'), address(self))
	end
	cls.__eq = function (a, b)
		local m = operator('__eq', a, b)
		if m then
			return m(a, b)
		end
		return false -- only called when a and b are not the same object
	end
	cls.__lt = function (a, b)
		local m = operator('__lt', a, b)
		if not m then
			error(string.format('attempt to compare %s with %s',
				class_name(a), class_name(b)), 2)
		end
		return m(a, b)
	end
	cls.__le = function (a, b)
		local m = operator('__le', a, b)
		if m then
			return m(a, b)
		end
		-- Lua's own fallback for a missing __le: not (b < a).
		m = operator('__lt', a, b)
		if not m then
			error(string.format('attempt to compare %s with %s',
				class_name(a), class_name(b)), 2)
		end
		return not m(b, a)
	end
	cls.__len = function (self)
		local m = find_method(cls, '__len')
		if m then
			return m(self)
		end
		return rawlen(self)
	end
	cls.__call = function (self, ...)
		local m = find_method(cls, '__call')
		if not m then
			error(string.format('attempt to call a %s instance',
				rawget(cls, 'name')), 2)
		end
		return m(self, ...)
	end
	cls.__concat = function (a, b)
		local m = operator('__concat', a, b)
		if not m then
			error(string.format('attempt to concatenate %s with %s',
				class_name(a), class_name(b)), 2)
		end
		return m(a, b)
	end
end

-- Create an instance of cls and initialise it with its __init method.
function class.new_instance(cls, ...)
	local instance = setmetatable({}, cls)
	instance:__init(...)
	return instance
end

local BaseObject = {
	name = 'BaseObject',
	__method = {},
	property = {},
}
BaseObject.method = method_view(BaseObject, true)
BaseObject.__view = method_view(BaseObject, false)
BaseObject.new = class.new_instance
function BaseObject.__class_init(parent, cls)
end

function BaseObject.method:__init()
end

-- A shallow copy of the object, with the same class.
function BaseObject.method:clone()
	local c = {}
	for k, v in next, self do
		c[k] = v
	end
	return setmetatable(c, getmetatable(self))
end

-- Add a property to this object only (not to its class).
function BaseObject.method:addproperty(name, get, set)
	local property = rawget(self, '__property')
	if not property then
		property = {}
		rawset(self, '__property', property)
	end
	property[name] = { get = get, set = set }
end

set_metamethods(BaseObject)
setmetatable(BaseObject, ClassMeta)

class.BaseObject = BaseObject

-- Create the class name, child of parent (BaseObject when nil).
function class.class(name, parent)
	if type(name) ~= 'string' then
		error('class name must be a string', 2)
	end
	parent = parent or BaseObject
	if not isclass(parent) then
		error(string.format("parent of class '%s' is not a class",
			name), 2)
	end

	local cls = {
		name = name,
		super = parent,
		__method = {},
		property = {},
	}
	cls.method = method_view(cls, true)
	cls.__view = method_view(cls, false)
	set_metamethods(cls)
	setmetatable(cls, ClassMeta)

	parent:__class_init(cls)
	return cls
end

-- The class of an instance, or nil when obj is not a class instance.
function class.classof(obj)
	local cls = getmetatable(obj)
	if isclass(cls) then
		return cls
	end
	return nil
end

-- A read-only view of the methods of cls's parent, so that a method can
-- call the parent's version: class.super(Cls).__init(self, ...).
function class.super(cls)
	if not isclass(cls) then
		error('class.super: argument is not a class', 2)
	end
	local parent = rawget(cls, 'super')
	if not parent then
		error(string.format("class '%s' has no parent",
			rawget(cls, 'name')), 2)
	end
	return rawget(parent, '__view')
end

class.isclass = isclass

-- True when cls is base or one of its descendants.
function class.isaclass(cls, base)
	if not isclass(cls) then
		return false
	end
	local c = cls
	while c do
		if c == base then
			return true
		end
		c = rawget(c, 'super')
	end
	return false
end

-- True when obj is an instance of cls or of one of its descendants.
function class.isa(obj, cls)
	return class.isaclass(class.classof(obj), cls)
end

-- Copy the fields of src into dst, properties added with addproperty
-- included (they move from src to dst).
function class.merge(dst, src)
	local psrc = rawget(src, '__property')
	if psrc then
		local pdst = rawget(dst, '__property')
		if not pdst then
			rawset(dst, '__property', psrc)
		else
			for k, v in pairs(psrc) do
				pdst[k] = v
			end
		end
		rawset(src, '__property', nil)
	end
	for k, v in pairs(src) do
		dst[k] = v
	end
end

return class
